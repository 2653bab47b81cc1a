"""reelmill's side of the render benchmark: render commands through worker.job.run_job, as a worker does.

One process renders the given variants one after another (or `--slots 2`: two render threads taking
them in turn, as a worker with two slots). Commands come as the gateway publishes them (serialized
RenderCommand messages); prints one JSON line of facts (per-variant seconds, frame cache stats).

`--processes N`: N worker processes instead, each on a core of its own (as 1-CPU pods of one node),
taking the variants in turn (process k the k-th, the (k+N)-th, ...), with one frames folder for all
(`--frames shared`, pods mounting one node-local volume) or one each (`--frames own`, an emptyDir
each). Every run starts with no frames kept, as a new pod does.

    .venv/bin/python bench/reelmill_render.py commands.json --media DIR --out DIR --cache-dir DIR
        [--slots N] [--processes N --frames shared|own]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# REELMILL_BENCH_CODE: another checkout of reelmill to measure instead (run.py --baseline).
sys.path.insert(0, os.environ.get("REELMILL_BENCH_CODE") or str(Path(__file__).resolve().parents[1]))

from reelmill.v1 import render_pb2  # noqa: E402
from worker import job  # noqa: E402
from worker.job import JobState, run_job  # noqa: E402
from worker.settings import WorkerSettings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("commands")
    p.add_argument("--media", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir", required=True)
    p.add_argument("--slots", type=int, default=1)
    p.add_argument("--frame-cache-mb", type=int, default=None)
    p.add_argument("--frame-spill-mb", type=int, default=None)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--frames", choices=("shared", "own"), default="shared")
    p.add_argument("--part", default="", help=argparse.SUPPRESS)  # "k/N": one process of --processes N
    p.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)  # the first's start, epoch s
    args = p.parse_args()
    if not args.part:
        for kept in (Path(args.cache_dir) / "frames", *Path(args.cache_dir).glob("own-*")):
            shutil.rmtree(kept, ignore_errors=True)  # a new pod's: none kept
        if args.processes > 1:
            print(json.dumps(processes(args)))
            return
    with open(args.commands, encoding="utf-8") as f:
        cmds = [render_pb2.RenderCommand.FromString(base64.b64decode(c)) for c in json.load(f)]
    if args.part:
        k, n = (int(v) for v in args.part.split("/"))
        cmds = cmds[k::n]
    extra = {} if args.frame_cache_mb is None else {"frame_cache_mb": args.frame_cache_mb}
    if args.frame_spill_mb is not None:
        extra["frame_spill_mb"] = args.frame_spill_mb
    settings = WorkerSettings(media_roots=(args.media,), output_dir=args.out, cache_dir=args.cache_dir,
                              slots=args.slots, **extra)  # fmt: skip
    todo: queue.Queue[render_pb2.RenderCommand] = queue.Queue()
    for cmd in cmds:
        todo.put(cmd)
    seconds: dict[int, float] = {}
    done_at: dict[int, float] = {}  # seconds from the first render's start to each one's end
    begun = time.perf_counter() - (time.time() - args.t0 if args.t0 else 0.0)
    errors: list[BaseException] = []

    def slot() -> None:
        while True:
            try:
                cmd = todo.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            try:
                run_job(cmd, settings, JobState())
            except BaseException as e:  # reported by the parent
                errors.append(e)
                return
            seconds[cmd.index] = time.perf_counter() - started
            done_at[cmd.index] = time.perf_counter() - begun

    threads = [threading.Thread(target=slot) for _ in range(max(args.slots, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    cache = job.frame_cache(settings).stats() if hasattr(job, "frame_cache") else None  # older checkouts
    print(json.dumps({"seconds": seconds, "done_at": done_at, "cache": cache}))


def processes(args: argparse.Namespace) -> dict[str, object]:
    """--processes N: the worker processes, each on a core of its own, and their facts together."""
    cores = sorted(os.sched_getaffinity(0))
    t0 = time.time()
    children = []
    for k in range(args.processes):
        cache_dir = args.cache_dir if args.frames == "shared" else os.path.join(args.cache_dir, f"own-{k}")
        argv = [sys.executable, __file__, args.commands, "--media", args.media, "--out", args.out,
                "--cache-dir", cache_dir, "--slots", str(args.slots), "--part", f"{k}/{args.processes}",
                "--t0", repr(t0)]  # fmt: skip
        kept = (("--frame-cache-mb", args.frame_cache_mb), ("--frame-spill-mb", args.frame_spill_mb))
        argv += [item for flag, value in kept if value is not None for item in (flag, str(value))]
        core = cores[k % len(cores)]
        pin = f"import os, sys; os.sched_setaffinity(0, {{{core}}}); os.execv(sys.executable, {argv!r})"
        children.append(subprocess.Popen([sys.executable, "-c", pin], stdout=subprocess.PIPE, text=True))
    facts = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"a worker process exited with {child.returncode}")
        facts.append(json.loads(out.strip().splitlines()[-1]))
    caches = [f["cache"] for f in facts if f.get("cache")]
    cache = None
    if caches:  # lookups counted by each process; the folders' bytes: the one's (shared) or all together
        cache = {name: sum(c[name] for c in caches) for name in ("hits", "misses", "evictions")}
        summed = args.frames == "own"  # each its own folder: together
        for name in ("shots", "bytes", "peak_bytes", "limit_bytes"):
            values = [c[name] for c in caches]
            cache[name] = sum(values) if summed else max(values)
    return {
        "seconds": {k: v for f in facts for k, v in f["seconds"].items()},
        "done_at": {k: v for f in facts for k, v in f["done_at"].items()},
        "cache": cache,
    }


if __name__ == "__main__":
    main()
