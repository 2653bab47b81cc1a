"""Where a render's time goes: the reference job's stages, one after another, in this process.

Decoding alone, then decoding and framing (crop, scale), then the whole picture (the timeline graph's
cuts and overlays), then x264 alone on those frames through reelmill's encoder, then the whole render.
Each line gives wall and CPU time (`process_time` counts every thread, libav's included).

    .venv/bin/python bench/stages.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from av.video.frame import VideoFrame  # noqa: E402
from reference import FULL, QUICK, commands, job_document, make_media, plan_of  # noqa: E402

from worker.plan import VariantPlan  # noqa: E402
from worker.render.audio import Sound  # noqa: E402
from worker.render.compose import _drawn, _picture, _urls, render_variant, shot_frame_counts  # noqa: E402
from worker.render.encode import Encoder  # noqa: E402
from worker.render.fonts import FontBook  # noqa: E402
from worker.render.inputs import open_input  # noqa: E402
from worker.render.poster import save_poster  # noqa: E402
from worker.render.quality import OutputMeter, report  # noqa: E402
from worker.render.timeline import Timeline  # noqa: E402
from worker.render.video import Canvas, shot_video_frames  # noqa: E402


def timed(name: str, fn: Callable[[], int]) -> str:
    cpu, wall = time.process_time(), time.perf_counter()
    frames = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"| {name} | {frames} | {wall:.2f} | {cpu:.2f} |"


def decoded(plan: VariantPlan, sources: dict[str, str]) -> int:
    n = 0
    for shot in plan.shots:
        with open_input(sources[shot.source_url], shot.source_url) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # as the worker decodes
            container.seek(round(shot.in_s / stream.time_base), stream=stream)
            end = float(shot.in_s + shot.duration_s)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= end:
                    break
                n += 1
    return n


def framed(plan: VariantPlan, sources: dict[str, str], canvas: Canvas) -> int:
    n = 0
    for shot, frames in zip(plan.shots, shot_frame_counts(plan), strict=True):
        for _ in shot_video_frames(sources[shot.source_url], shot.source_url, shot, canvas, frames):
            n += 1
    return n


def count(frames: Iterator[VideoFrame]) -> int:
    return sum(1 for _ in frames)


def picture(plan: VariantPlan, sources: dict[str, str], canvas: Canvas) -> Iterator[VideoFrame]:
    timeline = Timeline(plan, [layer for layer, _ in _drawn(plan, sources, FontBook())])
    return _picture(plan, sources, canvas, timeline, None)


def encoded(plan: VariantPlan, frames: list[VideoFrame], out: str) -> int:
    encoder = Encoder(out, plan.output)
    try:
        for i, frame in enumerate(frames):
            encoder.write_video(frame, i)
        encoder.finish()  # no sound was written: the audio stream stays empty
    finally:
        encoder.close()
    return len(frames)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the smoke test's tiny job")
    p.add_argument("--work", default=str(ROOT / ".bench"), help="media (kept between runs)")
    args = p.parse_args()
    size = QUICK if args.quick else FULL
    work = Path(args.work).resolve()
    with tempfile.TemporaryDirectory(prefix="reelmill-stages-") as tmp:
        media = make_media(work, size)
        cmd = commands(job_document(media, Path(tmp), size, batch=False), media, Path(tmp))[0]
        plan = plan_of(cmd)
        sources = {u: u.removeprefix("file://") for u in _urls(plan)}
        canvas = Canvas(plan.output, plan.background, None)
        rows = [
            "| stage | frames | wall s | CPU s |",
            "|---|---|---|---|",
            timed("decoding the shots' pieces", lambda: decoded(plan, sources)),
            timed("+ framing (crop, scale to the canvas)", lambda: framed(plan, sources, canvas)),
            timed("+ the timeline graph (cuts, overlays)", lambda: count(picture(plan, sources, canvas))),
        ]  # fmt: skip
        frames = list(picture(plan, sources, canvas))  # kept in memory, so x264 is timed alone
        rows.append(timed("x264 alone on those frames", lambda: encoded(plan, frames, f"{tmp}/x264.mp4")))
        frames.clear()

        def whole() -> int:
            render_variant(plan, sources, f"{tmp}/whole.mp4")
            return plan.frame_count

        rows.append(timed("the whole render, sound included", whole))

        def loudness_pass() -> int:
            Sound(plan, sources)  # the mix, made and measured
            return 0

        def measured() -> int:
            meter = OutputMeter(plan)
            render_variant(plan, sources, f"{tmp}/measured.mp4", meter=meter)
            report(meter, f"{tmp}/measured.mp4", plan, 0, sources)
            assert meter.poster is not None
            save_poster(meter.poster, Path(f"{tmp}/measured.jpg"))
            return plan.frame_count

        rows += [
            timed("of which: the mix measured before it is normalised", loudness_pass),
            timed("the whole render, quality report and poster included", measured),
        ]
    print("\n".join(rows))


if __name__ == "__main__":
    main()
