"""reelmill's side of the render benchmark: render commands through worker.job.run_job, as a worker does.

One process renders the given variants one after another (or `--slots 2`: two render threads taking
them in turn, as a worker with two slots). Commands come as the gateway publishes them (serialized
RenderCommand messages); prints one JSON line of facts (per-variant seconds, frame cache stats).

    .venv/bin/python bench/reelmill_render.py commands.json --media DIR --out DIR [--slots N]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
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
    args = p.parse_args()
    with open(args.commands, encoding="utf-8") as f:
        cmds = [render_pb2.RenderCommand.FromString(base64.b64decode(c)) for c in json.load(f)]
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
    begun = time.perf_counter()
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


if __name__ == "__main__":
    main()
