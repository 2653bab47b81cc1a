"""Rendering one variant: every shot's video and sound, in order, into one MP4."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction

from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame

from worker.errors import RenderCancelledError, WorkerError
from worker.plan import Shot, VariantPlan
from worker.render.audio import SAMPLE_RATE, shot_audio_frames
from worker.render.encode import Encoder
from worker.render.video import shot_video_frames

PROGRESS_EVERY = 15  # frames between progress reports and cancellation checks


def render_variant(
    plan: VariantPlan,
    sources: Mapping[str, str],
    out_path: str,
    *,
    on_progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Render `plan` into an MP4 at `out_path` (written in place: the caller owns temp names).

    `sources` maps each shot's source_url to a local file. Raises MaterialNotFoundError or
    MaterialUnreadableError for a bad source, OutputWriteError when encoding or writing fails,
    RenderCancelledError when `is_cancelled()` turns true. `metadata` goes into the container's tags.
    """
    missing = {s.source_url for s in plan.shots} - set(sources)
    if missing:
        raise WorkerError(f"no local file for {', '.join(sorted(missing))}")
    fps = Fraction(plan.output.fps)
    total = plan.frame_count
    if total <= 0:
        raise WorkerError("the plan has no frames to render")
    if is_cancelled is not None and is_cancelled():
        raise RenderCancelledError("render cancelled")

    encoder = Encoder(out_path, plan.output, metadata)
    try:
        frames_done = samples_done = 0
        for shot, (frame_start, frame_end), (sample_start, sample_end) in _cuts(plan.shots, fps):
            path = sources[shot.source_url]
            video = shot_video_frames(path, shot.source_url, shot, plan.output, frame_end - frame_start)
            audio = shot_audio_frames(path, shot.source_url, shot, sample_end - sample_start)
            try:
                for item in _interleave(video, audio, fps, frames_done, samples_done):
                    if isinstance(item, VideoFrame):
                        encoder.write_video(item, frames_done)
                        frames_done += 1
                        if frames_done % PROGRESS_EVERY == 0:
                            if is_cancelled is not None and is_cancelled():
                                raise RenderCancelledError("render cancelled")
                            if on_progress is not None:
                                on_progress(min(frames_done / total, 1.0))
                    else:
                        encoder.write_audio(item, samples_done)
                        samples_done += item.samples
            finally:
                video.close()  # closes the source containers at once, also on errors
                audio.close()
            if (frames_done, samples_done) != (frame_end, sample_end):  # a bug, not bad media
                raise WorkerError(
                    f"shot of {shot.source_url} made {frames_done - frame_start} frames and "
                    f"{samples_done - sample_start} samples instead of {frame_end - frame_start} and "
                    f"{sample_end - sample_start}"
                )
        encoder.finish()
    finally:
        encoder.close()
    if on_progress is not None:
        on_progress(1.0)


def _cuts(shots: tuple[Shot, ...], fps: Fraction) -> Iterator[tuple[Shot, tuple[int, int], tuple[int, int]]]:
    """Each shot with its [start, end) in output frames and in audio samples.

    Cut points are taken from the running total, so rounding never accumulates: the video has
    plan.frame_count frames and the sound floor(duration * 48000) samples, within one frame of each other.
    With shots on the frame grid (as the planner makes them) each shot has exactly duration * fps frames.
    """
    t = Fraction(0)
    for shot in shots:
        start, t = t, t + shot.duration_s
        yield (
            shot,
            (math.floor(start * fps), math.floor(t * fps)),
            (math.floor(start * SAMPLE_RATE), math.floor(t * SAMPLE_RATE)),
        )


def _interleave(
    video: Iterator[VideoFrame],
    audio: Iterator[AudioFrame],
    fps: Fraction,
    frames_done: int,
    samples_done: int,
) -> Iterator[VideoFrame | AudioFrame]:
    """Video and audio frames in timeline order, so the muxer writes well-interleaved chunks."""
    next_video: VideoFrame | None = next(video, None)
    next_audio: AudioFrame | None = next(audio, None)
    while next_video is not None or next_audio is not None:
        video_t = Fraction(frames_done) / fps
        audio_t = Fraction(samples_done, SAMPLE_RATE)
        if next_video is not None and (next_audio is None or video_t <= audio_t):
            yield next_video
            frames_done += 1
            next_video = next(video, None)
        else:
            assert next_audio is not None
            yield next_audio
            samples_done += next_audio.samples
            next_audio = next(audio, None)
