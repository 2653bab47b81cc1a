"""Rendering one variant: every shot's picture through the timeline graph, the mixed sound, one MP4."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator, Mapping
from fractions import Fraction

from av.audio.frame import AudioFrame
from av.video.frame import VideoFrame
from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

from worker.errors import MaterialNotFoundError, MaterialUnreadableError, RenderCancelledError, WorkerError
from worker.plan import VariantPlan
from worker.render.audio import SAMPLE_RATE, Sound
from worker.render.encode import Encoder
from worker.render.fonts import FontBook
from worker.render.frame_cache import ShotCache
from worker.render.quality import OutputMeter
from worker.render.text import Placed, draw_caption
from worker.render.threads import Threads
from worker.render.timeline import Layer, Timeline
from worker.render.video import Canvas, shot_video_frames

PROGRESS_EVERY = 15  # frames between progress reports and cancellation checks


def render_variant(
    plan: VariantPlan,
    sources: Mapping[str, str],
    out_path: str,
    *,
    on_progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    metadata: Mapping[str, str] | None = None,
    fonts: FontBook | None = None,
    frame_cache: ShotCache | None = None,
    meter: OutputMeter | None = None,
    threads: Threads | None = None,
) -> int:
    """Render `plan` into an MP4 at `out_path` (written in place: the caller owns temp names); returns
    how many pairs of texts and stickers were drawn over one another (see `overlaps`).

    `sources` maps every media URL of the plan (shots, stickers, music, background image) to a local
    file. Raises MaterialNotFoundError or MaterialUnreadableError for a bad source, OutputWriteError
    when encoding or writing fails, RenderCancelledError when `is_cancelled()` turns true. `metadata`
    goes into the container's tags. `frame_cache` shares framed shots between the variants of a process.
    `meter` is given every frame and every sound frame as it is encoded (the quality report, the poster).
    `threads`: how many threads the decoders, the filter graphs and the encoder start (render/threads.py;
    None: libav's choice for the codecs, one for the graphs).
    """
    missing = _urls(plan) - set(sources)
    if missing:
        raise WorkerError(f"no local file for {', '.join(sorted(missing))}")
    fps = Fraction(plan.output.fps)
    total = plan.frame_count
    if total <= 0:
        raise WorkerError("the plan has no frames to render")
    if is_cancelled is not None and is_cancelled():
        raise RenderCancelledError("render cancelled")

    spec = plan.output
    threads = threads or Threads()
    canvas = Canvas(spec, plan.background, _background_frame(plan, sources), threads)
    drawn = _drawn(plan, sources, fonts or FontBook())
    timeline = Timeline(plan, [layer for layer, _ in drawn], threads.filters)
    sound = Sound(plan, sources)
    audio = sound.frames()
    encoder = Encoder(out_path, spec, metadata, threads.encoder)
    picture = _picture(plan, sources, canvas, timeline, frame_cache)
    try:
        done = _Progress(total, on_progress, is_cancelled)
        samples_done = 0
        for frame in picture:
            encoder.write_video(frame, done.frames)
            if meter is not None:
                meter.video(frame, done.frames)
            done.step()
            # Sound up to the picture's time, so that the muxer writes well-interleaved chunks.
            samples_done = _write_audio(encoder, audio, samples_done, done.frames * SAMPLE_RATE / fps, meter)
        samples_done = _write_audio(encoder, audio, samples_done, sound.total, meter)
        if (done.frames, samples_done) != (total, sound.total):  # a bug, not bad media
            raise WorkerError(
                f"the timeline made {done.frames} frames and {samples_done} samples instead of {total} and "
                f"{sound.total}"
            )
        encoder.finish()
    finally:
        picture.close()  # closes the shot's source at once, also on errors
        encoder.close()
    if on_progress is not None:
        on_progress(1.0)
    return overlaps([(image, layer) for layer, image in drawn])


def overlaps(drawn: list[tuple[Image.Image, Layer]]) -> int:
    """Pairs of texts or stickers whose drawn pixels meet while both show (the layout engine's promise
    is none: this measures what was drawn)."""
    count = 0
    for i, (a, la) in enumerate(drawn):
        for b, lb in drawn[i + 1 :]:
            if not (la.start_s < lb.end_s and lb.start_s < la.end_s):
                continue
            left, top = max(la.x, lb.x), max(la.y, lb.y)
            right, bottom = min(la.x + a.width, lb.x + b.width), min(la.y + a.height, lb.y + b.height)
            if right <= left or bottom <= top:
                continue
            box_a = (left - la.x, top - la.y, right - la.x, bottom - la.y)
            box_b = (left - lb.x, top - lb.y, right - lb.x, bottom - lb.y)
            both = ImageChops.multiply(a.getchannel("A").crop(box_a), b.getchannel("A").crop(box_b))
            if both.getbbox() is not None:
                count += 1
    return count


def _picture(
    plan: VariantPlan,
    sources: Mapping[str, str],
    canvas: Canvas,
    timeline: Timeline,
    cache: ShotCache | None,
) -> Generator[VideoFrame, None, None]:
    """The timeline's frames in order: every shot's frames through the timeline graph."""
    for i, (shot, count) in enumerate(zip(plan.shots, shot_frame_counts(plan), strict=True)):
        video = shot_video_frames(sources[shot.source_url], shot.source_url, shot, canvas, count, cache)
        try:
            produced = 0
            for frame in video:
                yield from timeline.push(i, frame, produced)
                produced += 1
        finally:
            video.close()  # closes the source container at once, also on errors
        if produced != count:  # a bug, not bad media
            raise WorkerError(f"shot {i} of {shot.source_url} made {produced} frames instead of {count}")
        yield from timeline.push(i, None)


def shot_frame_counts(plan: VariantPlan) -> list[int]:
    """How many output frames each shot fills: from the running times, so that a plan off the frame
    grid still adds up to plan.frame_count."""
    fps = plan.output.fps
    return [
        math.floor((start + shot.duration_s) * fps) - math.floor(start * fps)
        for shot, start in zip(plan.shots, plan.starts_s, strict=True)
    ]


class _Progress:
    def __init__(
        self, total: int, on_progress: Callable[[float], None] | None, is_cancelled: Callable[[], bool] | None
    ) -> None:
        self.total, self.on_progress, self.is_cancelled = total, on_progress, is_cancelled
        self.frames = 0

    def step(self) -> None:
        self.frames += 1
        if self.frames % PROGRESS_EVERY == 0:
            if self.is_cancelled is not None and self.is_cancelled():
                raise RenderCancelledError("render cancelled")
            if self.on_progress is not None:
                self.on_progress(min(self.frames / self.total, 1.0))


def _write_audio(
    encoder: Encoder, audio: Iterator[AudioFrame], done: int, until: Fraction | int, meter: OutputMeter | None
) -> int:
    while done < until:
        frame = next(audio, None)
        if frame is None:
            break
        encoder.write_audio(frame, done)
        if meter is not None:
            meter.audio(frame)
        done += frame.samples
    return done


def _urls(plan: VariantPlan) -> set[str]:
    urls = {s.source_url for s in plan.shots} | {s.url for s in plan.stickers}
    if plan.music is not None:
        urls.add(plan.music.url)
    if plan.background.image_url:
        urls.add(plan.background.image_url)
    return urls


def _drawn(plan: VariantPlan, sources: Mapping[str, str], fonts: FontBook) -> list[tuple[Layer, Image.Image]]:
    """Stickers, then texts: each drawn once as an RGBA picture (the layer, and its image)."""
    canvas = (plan.output.width, plan.output.height)
    layers = []
    for s in plan.stickers:
        image = _open_image(sources[s.url], s.url).resize((s.width_px, s.height_px), Image.Resampling.LANCZOS)
        if s.opacity < 1:
            image.putalpha(image.getchannel("A").point([round(a * s.opacity) for a in range(256)]))
        layers.append((Layer(_rgba_frame(image), s.x_px, s.y_px, Fraction(0), plan.duration_s), image))
    drawn: dict[tuple[object, ...], Placed] = {}
    for c in plan.captions:
        key = (c.text, c.look, c.lines, c.box)
        placed = drawn.get(key) or draw_caption(c, fonts, canvas)
        drawn[key] = placed
        layers.append(
            (Layer(_rgba_frame(placed.image), placed.x, placed.y, c.start_s, c.end_s), placed.image)
        )
    return layers


def _background_frame(plan: VariantPlan, sources: Mapping[str, str]) -> VideoFrame | None:
    """Image mode: the background picture scaled to cover the canvas, centre-cropped, once."""
    url = plan.background.image_url
    if plan.background.mode != "Image" or not url:
        return None
    size = (plan.output.width, plan.output.height)
    image = ImageOps.fit(_open_image(sources[url], url).convert("RGB"), size, Image.Resampling.LANCZOS)
    return _rgba_frame(image.convert("RGBA"))


def _open_image(path: str, url: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGBA")
    except FileNotFoundError as e:
        raise MaterialNotFoundError(f"image {url} not found") from e
    except (UnidentifiedImageError, OSError) as e:
        raise MaterialUnreadableError(f"cannot read image {url}: {e}") from e


def _rgba_frame(image: Image.Image) -> VideoFrame:
    # from_bytes keeps the alpha channel (VideoFrame.from_image would drop it).
    return VideoFrame.from_bytes(image.tobytes(), image.width, image.height, format="rgba")
