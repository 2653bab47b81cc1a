"""More machines (issue 17): N worker processes on one NATS against one gateway, for N = 1..--max-workers,
each given a batch of --variants-per-worker × N variants; variants per minute from Submit to the job's
end (Watch), and the efficiency of each added worker against one. Not a test: nothing here asserts
timings. `make bench-scale` runs it with one worker per core.

Each worker is pinned to cores of its own (--cores-per-worker, 1 by default), as a pod with a CPU limit
is held to its share: it sizes its render's threads to them (worker/cpus.py), and N workers use N
shares of the machine. Unpinned, one worker would spread over every core and the first row would
already use the machine. The gateway, NATS and this client share all cores.

    .venv/bin/python bench/scale.py [--max-workers 16 | --workers 1,4,8,16] [--cores-per-worker 1]
                                    [--variants-per-worker 4] [--size 540x960] [--frames shared|own]

The workers share one cache folder (DATA_DIR/cache: media, speech, kept frames) by default, as the
worker pods of a node given one (deploy/k8s/examples/node-cache.yaml); `--frames own` gives each its
own, as pods with an emptyDir each.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli.dev import wait_healthy  # noqa: E402
from cli.natsd import NatsServer, free_port  # noqa: E402
from cli.samples import make_video  # noqa: E402
from gateway.validate import MAX_COUNT  # noqa: E402
from reelmill import documents  # noqa: E402
from reelmill.v1 import batch_service_pb2 as api  # noqa: E402
from reelmill.v1 import batch_service_pb2_grpc as api_grpc  # noqa: E402


def job(media: Path, count: int, width: int, height: int, seconds: float) -> dict[str, object]:
    """A Script job of two groups of clips (distinct variants) and a still, `seconds` long."""
    groups = [{"GroupName": g, "MediaArray": [f"file://{media}/{g}{i}.mp4" for i in range(4)],
               "Duration": seconds / 2} for g in ("a", "b")]  # fmt: skip
    return {
        "InputConfig": {"MediaGroupArray": groups, "TitleArray": ["Scale", "Many workers"]},
        "OutputConfig": {"Count": count, "Width": width, "Height": height,
                         "Video": {"Crf": 27, "Preset": "veryfast", "Fps": 30}},
    }  # fmt: skip


def spread(cores: list[int]) -> tuple[list[int], str]:
    """The cores in the order workers are pinned to them (`by_siblings`) and the topology in words."""
    siblings: dict[int, tuple[int, ...]] = {}
    for cpu in cores:
        try:
            listed = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text()
        except OSError:
            return cores, "topology not readable"
        siblings[cpu] = tuple(sorted(_cpu_list(listed)))
    physical = len(set(siblings.values()))
    threads = max(len(g) for g in siblings.values())
    words = f"{physical} physical, {threads} hardware threads each" if threads > 1 else "no hyperthreads"
    return by_siblings(siblings), words


def by_siblings(siblings: dict[int, tuple[int, ...]]) -> list[int]:
    """One hardware thread of each physical core first, then their siblings: up to the physical cores
    each worker has one of its own (as Kubernetes' static CPU manager gives whole cores), and the rows
    past them measure hyperthreads. `siblings`: each usable CPU's core's threads."""
    rank = {cpu: [c for c in group if c in siblings].index(cpu) for cpu, group in siblings.items()}
    return sorted(siblings, key=lambda cpu: (rank[cpu], siblings[cpu]))


def _cpu_list(text: str) -> set[int]:
    """A kernel CPU list ("0-3,8,10-11") as numbers."""
    found: set[int] = set()
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def wait_http(url: str, processes: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Until `url` answers 200; SystemExit when a process exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a worker exited before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout_s} s")


WARM_UP_PER_WORKER = 2  # untimed variants per worker before a row that added workers


@dataclass
class Batch:
    seconds: float  # from Submit to the job's end, as Watch shows it
    first_s: float  # from Submit to the first variant's Success
    in_order: bool  # whether the variants succeeded in the order of their indexes


def run_batch(stub: api_grpc.BatchMediaProducingServiceStub, doc: dict[str, object]) -> Batch:
    """One job, timed through Watch; SystemExit unless every variant rendered."""
    started = time.monotonic()
    job_id = stub.SubmitBatchMediaProducingJob(documents.submit_request(doc), timeout=60).job_id
    last = None
    first_s: float | None = None
    succeeded: list[int] = []
    for change in stub.WatchBatchMediaProducingJob(api.WatchBatchMediaProducingJobRequest(job_id=job_id),
                                                   timeout=3600):  # fmt: skip
        last = change.editing_batch_job
        for sub in last.sub_job_list:
            if sub.status == "Success" and sub.index not in succeeded:
                succeeded.append(sub.index)
                first_s = time.monotonic() - started if first_s is None else first_s
    elapsed = time.monotonic() - started
    if last is None or last.status != "Finished" or any(s.status != "Success" for s in last.sub_job_list):
        raise SystemExit(f"job {job_id} did not render every variant: {last}")
    assert first_s is not None
    return Batch(elapsed, first_s, succeeded == sorted(succeeded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-workers", type=int, default=0, help="default: the cores / --cores-per-worker")
    parser.add_argument("--workers", default="", help="rows' worker counts: 1,4,8,16")
    parser.add_argument("--cores-per-worker", type=int, default=1, help="0: workers not pinned")
    parser.add_argument("--variants-per-worker", type=int, default=4)
    parser.add_argument("--frames", choices=("shared", "own"), default="shared",
                        help="the workers' caches: one folder for all (a node's), or one each")  # fmt: skip
    parser.add_argument("--size", default="540x960")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each variant")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cores, topology = spread(sorted(os.sched_getaffinity(0)))
    per = args.cores_per_worker
    max_workers = args.max_workers or (max(len(cores) // per, 1) if per else len(cores))
    counts = sorted({int(n) for n in args.workers.split(",") if n.strip()}) or list(range(1, max_workers + 1))
    if counts[0] < 1:
        raise SystemExit("--workers: counts are 1 or more")
    max_workers = counts[-1]
    # Each row is one job, and so is the warm-up batch of two per worker before it.
    per_job = max(args.variants_per_worker, WARM_UP_PER_WORKER) * max_workers
    if per_job > MAX_COUNT:
        raise SystemExit(f"a row's job would be {per_job} variants (--variants-per-worker, at least "
                         f"{WARM_UP_PER_WORKER} for the warm-up, × workers), more than {MAX_COUNT}, "
                         "the most one job may ask for (OutputConfig.Count)")  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="reelmill-scale-"))
    media = tmp / "media"
    media.mkdir()
    for i in range(4):
        make_video(str(media / f"a{i}.mp4"), 640, 360, args.seconds, tone_hz=300 + 50 * i)
        make_video(str(media / f"b{i}.mp4"), 640, 360, args.seconds, tone_hz=600 + 50 * i, with_audio=False)
    nats = NatsServer(tmp / "nats").start()
    address = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, REELMILL_NATS_URL=nats.url, REELMILL_LISTEN=address, REELMILL_OPEN="1",
               REELMILL_DATA_DIR=str(tmp / "data"), REELMILL_MEDIA_ROOTS=str(media),
               REELMILL_OUTPUT_DIR=str(tmp / "outputs"), REELMILL_LOG_LEVEL="WARNING", REELMILL_SLOTS="1",
               REELMILL_TENANT_SUBMITS_PER_MINUTE="0", REELMILL_TENANT_QUEUED_VARIANTS="0")  # fmt: skip
    gateway = subprocess.Popen([sys.executable, "-m", "cli", "gateway"], env=env)
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker() -> tuple[subprocess.Popen[bytes], int]:
        """A worker on cores of its own (the next `per` of this machine's), or on all of them, and the
        port of its /healthz. The affinity is set by the child before it becomes the worker (a
        preexec_fn is unsafe in a process that already runs gRPC's threads)."""
        mine = sorted({cores[(len(workers) * per + i) % len(cores)] for i in range(per)} if per else cores)
        pin = (f"import os, sys; os.sched_setaffinity(0, {mine!r}); "
               "os.execv(sys.executable, [sys.executable, '-m', 'cli', 'worker'])")  # fmt: skip
        port = free_port()
        own = dict(env, REELMILL_METRICS_PORT=str(port))
        if args.frames == "own":  # DATA_DIR/cache of its own, as a pod with an emptyDir
            own["REELMILL_DATA_DIR"] = str(tmp / f"data-{len(workers)}")
        return subprocess.Popen([sys.executable, "-c", pin], env=own), port

    def add_workers(n: int) -> None:
        """Workers up to `n`, each timed from its first render on: started, answering /healthz (its
        imports done), then warmed by an untimed batch of two variants per worker (fonts, x264, the
        first decode), so that a row measures serving, not the start of the processes it added."""
        ports = []
        while len(workers) < n:
            process, port = start_worker()
            workers.append(process)
            ports.append(port)
        if not ports:  # none added: those there are warm already
            return
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz", workers, timeout_s=120)
        run_batch(stub, job(media, WARM_UP_PER_WORKER * n, width, height, args.seconds))

    rows = []
    try:
        wait_healthy(address, [gateway], timeout_s=60)
        with grpc.insecure_channel(address) as channel:
            stub = api_grpc.BatchMediaProducingServiceStub(channel)
            add_workers(1)
            one = run_batch(stub, job(media, 1, width, height, args.seconds)).seconds  # one render, served
            for n in counts:
                add_workers(n)
                count = args.variants_per_worker * n
                done = run_batch(stub, job(media, count, width, height, args.seconds))
                rows.append((n, count, done, count / done.seconds * 60))
                print(json.dumps({"workers": n, "variants": count, "seconds": round(done.seconds, 2),
                                  "first_s": round(done.first_s, 2)}), flush=True)  # fmt: skip
    finally:
        for p in [*workers, gateway]:
            p.send_signal(signal.SIGTERM)
        for p in [*workers, gateway]:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        nats.stop()
    base = rows[0][3] / rows[0][0]  # variants per minute per worker in the first row
    if not per:
        pinned = "the workers not pinned"
    elif max_workers * per <= len(cores):
        pinned = f"each worker pinned to {per} core(s) of its own"
    else:  # more workers than cores: the rows past the cores measure sharing, not scaling
        pinned = f"workers pinned to {per} core(s) each, sharing cores past {len(cores) // per} workers"
    caches = "one cache folder for all" if args.frames == "shared" else "a cache folder each"
    print(f"\n{len(cores)} cores ({topology}), {pinned}, {caches}.")
    print(f"One variant alone, Submit to Success: {one:.2f} s.\n")
    print("| workers | variants | seconds | variants per minute | efficiency per worker "
          "| first video s | first vs one alone | in index order |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for n, count, done, rate in rows:
        order = "yes" if done.in_order else "no"
        print(f"| {n} | {count} | {done.seconds:.1f} | {rate:.1f} | {rate / (n * base):.2f} | "
              f"{done.first_s:.2f} | {done.first_s / one:.2f} | {order} |")  # fmt: skip


if __name__ == "__main__":
    main()
