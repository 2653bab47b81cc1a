"""The video of one shot: decoded, framed to the output, on the output frame grid, all inside libav."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
from av.container import InputContainer
from av.filter import Graph
from av.filter.context import FilterContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from worker.errors import MaterialUnreadableError
from worker.plan import OutputSpec, Shot
from worker.render.filters import pull_available
from worker.render.inputs import describe, open_input


class _Framer:
    """A filter graph from one source's frames to output frames: rotate, crop to aspect, scale, fps.

    Holding the Graph here keeps it alive while frames are pushed (a collected graph crashes the push).
    """

    def __init__(self, first: VideoFrame, stream: VideoStream, spec: OutputSpec, *, still: bool) -> None:
        self.width, self.height, self.format = first.width, first.height, first.format.name
        sar = stream.codec_context.sample_aspect_ratio or Fraction(1)
        self.graph = Graph()
        nodes: list[FilterContext] = [
            self.graph.add(
                "buffer",
                video_size=f"{first.width}x{first.height}",
                pix_fmt=first.format.name,
                time_base=str(stream.time_base or Fraction(1, 25)),
                pixel_aspect=f"{sar.numerator}/{sar.denominator}",
            )
        ]
        width, height = first.width, first.height
        # Phone videos are stored sideways with a display matrix; apply it as players (and ffmpeg) do.
        # frame.rotation is counter-clockwise degrees.
        if first.rotation in (90, -90):
            nodes.append(self.graph.add("transpose", "cclock" if first.rotation == 90 else "clock"))
            width, height, sar = height, width, 1 / sar
        elif abs(first.rotation) == 180:
            nodes += [self.graph.add("hflip"), self.graph.add("vflip")]
        crop_w, crop_h = crop_to_aspect(width, height, sar, Fraction(spec.width, spec.height))
        # Crop first, then scale: only the region that survives gets scaled ("cover" + centre crop).
        x, y = (width - crop_w) // 2, (height - crop_h) // 2
        nodes.append(self.graph.add("crop", f"{crop_w}:{crop_h}:{x}:{y}"))
        # One colour convention for every source (JPEGs are full range, PNGs RGB, old clips BT.601), the
        # one the encoder declares: otherwise players guess, and stills come out too bright or off-hue.
        nodes.append(
            self.graph.add("scale", f"{spec.width}:{spec.height}:out_color_matrix=bt709:out_range=tv")
        )
        if not still:
            # Resample onto the output grid; start_time=0 pads/trims so output frame 0 is the in-point.
            nodes.append(self.graph.add("fps", fps=str(spec.fps), start_time="0"))
        nodes.append(self.graph.add("format", "yuv420p"))
        nodes.append(self.graph.add("setsar", "1"))
        self.sink = self.graph.add("buffersink")
        nodes.append(self.sink)
        self.graph.link_nodes(*nodes).configure()
        self.source = nodes[0]

    def push(self, frame: VideoFrame | None) -> list[VideoFrame]:
        if frame is not None and (frame.width, frame.height, frame.format.name) != (
            self.width,
            self.height,
            self.format,
        ):
            # A mid-stream resolution change: bring it back to the graph's input geometry (in C).
            frame = frame.reformat(self.width, self.height, self.format)
        self.source.push(frame)
        return pull_available(self.sink)[0]  # type: ignore[return-value]


def crop_to_aspect(width: int, height: int, sar: Fraction, aspect: Fraction) -> tuple[int, int]:
    """The largest centred pixel region whose displayed aspect ratio is `aspect`."""
    if width * sar / height > aspect:  # too wide: keep the height
        return max(1, min(width, round(height * aspect / sar))), height
    return width, max(1, min(height, round(width * sar / aspect)))


def shot_video_frames(path: str, url: str, shot: Shot, spec: OutputSpec, count: int) -> Iterator[VideoFrame]:
    """Exactly `count` output-sized frames for the shot (the last one repeated if the source runs out).

    Yielded frames carry no meaningful pts: the caller stamps them on the output timeline.
    """
    if count <= 0:
        return
    with open_input(path, url) as container:
        if not container.streams.video:
            raise MaterialUnreadableError(f"media {url} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # PyAV opens decoders with slice threads only: H.264 decodes on one core
        try:
            if shot.is_image:
                yield from _still(container, stream, spec, count)
            else:
                yield from _moving(container, stream, shot, spec, count)
        except av.FFmpegError as e:
            raise MaterialUnreadableError(f"cannot decode media {url}: {describe(e)}") from e
        except _NoFrames as e:
            raise MaterialUnreadableError(f"media {url} has no decodable video frame") from e


class _NoFrames(Exception):
    pass


def _still(
    container: InputContainer, stream: VideoStream, spec: OutputSpec, count: int
) -> Iterator[VideoFrame]:
    image = next(iter(container.decode(stream)), None)
    if image is None:
        raise _NoFrames
    framer = _Framer(image, stream, spec, still=True)
    frames = framer.push(image) + framer.push(None)
    if not frames:
        raise _NoFrames
    for _ in range(count):  # one framed picture, encoded `count` times
        yield frames[0]


def _moving(
    container: InputContainer, stream: VideoStream, shot: Shot, spec: OutputSpec, count: int
) -> Iterator[VideoFrame]:
    time_base = stream.time_base or Fraction(1, 25)
    in_pts = (stream.start_time or 0) + round(shot.in_s / time_base)
    if shot.in_s > 0:
        try:
            container.seek(in_pts, stream=stream)  # backward: to the keyframe at or before in_s
        except av.FFmpegError:
            pass  # not seekable: decode from the start and drop frames instead

    framer: _Framer | None = None
    pending: VideoFrame | None = None  # the latest frame at or before in_s: it is the one shown at in_s
    last: VideoFrame | None = None
    produced = 0
    next_pts = in_pts
    for frame in container.decode(stream):
        pts = frame.pts if frame.pts is not None else next_pts
        next_pts = pts + (frame.duration or 1)
        if framer is None:
            framer = _Framer(frame, stream, spec, still=False)
        frame.pts = pts - in_pts  # shot-relative, so that fps' start_time=0 is the in-point
        if frame.pts <= 0:
            pending = frame
            continue
        ready: list[VideoFrame] = []
        if pending is not None:
            pending.pts = 0  # a frame from before in_s is shown from in_s
            ready += framer.push(pending)
            pending = None
        ready += framer.push(frame)
        for out in ready:
            yield out
            last = out
            produced += 1
            if produced == count:
                return

    if framer is None:
        raise _NoFrames
    ready = []
    if pending is not None:  # the in-point is at or after the source's last frame
        pending.pts = 0
        ready += framer.push(pending)
    ready += framer.push(None)
    for out in ready:
        yield out
        last = out
        produced += 1
        if produced == count:
            return
    if last is None:
        raise _NoFrames
    for _ in range(count - produced):  # the source ran out: hold its last frame
        yield last
