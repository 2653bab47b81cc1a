"""The video of one shot: decoded, framed to the canvas, sped, on the output frame grid, all in libav.

Two small graphs per shot: the framer (rotation, speed, frame rate, and the canvas fill that
BackgroundImageConfig asks for) and, when the shot has one, the effect (zoom, blur, shake).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
from av.container import InputContainer
from av.filter import Graph
from av.filter.context import FilterContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from worker.errors import MaterialUnreadableError
from worker.plan import Background, OutputSpec, Shot
from worker.render.filters import pull_available, pulled, push_stamped
from worker.render.frame_cache import ShotCache
from worker.render.inputs import FileIdentity, describe, file_identity, open_input
from worker.render.threads import Threads, new_graph

BLUR_DOWNSCALE = 4  # the Blur background is blurred at a quarter of the canvas size: same look, 16× less work
ZOOM = 0.15  # zoomin / zoomout: how much closer the shot ends (starts) than it starts (ends)
KEN_BURNS_ZOOM = 0.08  # a still's pan and zoom: gentle
SHAKE = 0.05  # shake: the picture is enlarged this much and moved within the margin
SHAKE_S = 0.8  # ... for this long, fading out
TO_BT709 = "out_color_matrix=bt709:out_range=tv"


@dataclass(frozen=True)
class Canvas:
    """What every shot is framed to."""

    spec: OutputSpec
    background: Background
    background_frame: VideoFrame | None = None  # Image mode: the background, canvas-sized (rgba)
    threads: Threads = Threads()  # how the shots are decoded and framed, not what they look like


class _Framer:
    """A filter graph from one source's frames to canvas frames on the output grid.

    Holding the Graph here keeps it alive while frames are pushed (a collected graph crashes the push).
    """

    def __init__(
        self, first: VideoFrame, stream: VideoStream, canvas: Canvas, *, still: bool, speed: Fraction
    ) -> None:
        self.width, self.height, self.format = first.width, first.height, first.format.name
        spec = canvas.spec
        sar = stream.codec_context.sample_aspect_ratio or Fraction(1)
        g = self.graph = new_graph(canvas.threads.filters)
        self.source = g.add(
            "buffer",
            video_size=f"{first.width}x{first.height}",
            pix_fmt=first.format.name,
            time_base=str(stream.time_base or Fraction(1, 25)),
            pixel_aspect=f"{sar.numerator}/{sar.denominator}",
        )
        nodes: list[FilterContext] = [self.source]
        if not still:
            # First onto the output grid, so that every later filter sees only the frames kept (a 60 fps
            # phone clip loses half of them here). start_time=0 pads/trims so that output frame 0 is the
            # in-point.
            if speed != 1:
                nodes.append(g.add("setpts", f"PTS/{float(speed)!r}"))
            nodes.append(g.add("fps", fps=str(spec.fps), start_time="0"))
        width, height = first.width, first.height
        # Phone videos are stored sideways with a display matrix; apply it as players (and ffmpeg) do.
        # frame.rotation is counter-clockwise degrees.
        turn: list[FilterContext] = []
        shown_w, shown_h, shown_sar = width, height, sar
        if first.rotation in (90, -90):
            turn = [g.add("transpose", "cclock" if first.rotation == 90 else "clock")]
            shown_w, shown_h, shown_sar = height, width, 1 / sar
        elif abs(first.rotation) == 180:
            turn = [g.add("hflip"), g.add("vflip")]
        mode = canvas.background.mode
        if mode == "Crop" or _same_aspect(shown_w, shown_h, shown_sar, spec):
            # Cropped and scaled as stored, then turned: the turn moves canvas-sized 8-bit frames, not
            # 4K 10-bit ones. A sideways source is cut to the canvas's aspect turned a quarter.
            sideways = first.rotation in (90, -90)
            out_w, out_h = (spec.height, spec.width) if sideways else (spec.width, spec.height)
            chain = nodes + _cover_nodes(g, width, height, sar, out_w, out_h) + turn
            g.link_nodes(*chain)
            out = chain[-1]
        else:
            out = self._fit_over_background(nodes + turn, shown_w, shown_h, shown_sar, canvas)
        tail = [g.add("format", "yuv420p"), g.add("setsar", "1")]
        self.sink = g.add("buffersink")
        g.link_nodes(out, *tail, self.sink)
        g.configure()
        if self._background_source is not None:
            frame = canvas.background_frame
            assert frame is not None
            frame.pts, frame.time_base = 0, 1 / spec.fps
            self._background_source.push(frame)
            self._background_source.push(None)

    _background_source: FilterContext | None = None

    def _fit_over_background(
        self, nodes: list[FilterContext], width: int, height: int, sar: Fraction, canvas: Canvas
    ) -> FilterContext:
        """The whole picture, fitted inside the canvas, over the Blur, Color or Image background."""
        g, spec, bg = self.graph, canvas.spec, canvas.background
        fit_w, fit_h = fit_inside(width, height, sar, spec)
        x, y = (spec.width - fit_w) // 2, (spec.height - fit_h) // 2
        g.link_nodes(*nodes)
        head = nodes[-1]
        fit = g.add("scale", f"{fit_w}:{fit_h}:{TO_BT709}")
        if bg.mode == "Color":
            color = bg.color[:7]
            pad = g.add("pad", f"{spec.width}:{spec.height}:{x}:{y}:color={color}")
            g.link_nodes(head, fit, pad)
            return pad
        overlay = g.add("overlay", x=str(x), y=str(y), shortest="1", eof_action="endall")
        if bg.mode == "Blur":
            split = g.add("split", "2")
            head.link_to(split)
            split.link_to(fit, 0)
            small_w, small_h = _even(spec.width / BLUR_DOWNSCALE), _even(spec.height / BLUR_DOWNSCALE)
            cover = _cover_nodes(g, width, height, sar, small_w, small_h)
            sigma = max(bg.radius / BLUR_DOWNSCALE, 0.5)
            back = [*cover, g.add("gblur", sigma=f"{sigma:g}"), g.add("scale", f"{spec.width}:{spec.height}")]
            split.link_to(back[0], 1)
            g.link_nodes(*back)
            back[-1].link_to(overlay, 0, 0)
        else:  # Image: the background picture under the fitted media (a colour source sets the pace)
            rate = str(spec.fps)
            base = g.add("color", f"c=black:s={spec.width}x{spec.height}:r={rate}")
            picture = g.add(
                "buffer",
                video_size=f"{spec.width}x{spec.height}",
                pix_fmt="rgba",
                time_base=str(1 / spec.fps),
                pixel_aspect="1/1",
            )
            self._background_source = picture
            convert = g.add("scale", f"{spec.width}:{spec.height}:{TO_BT709}")
            under = g.add("overlay", x="0", y="0")
            base.link_to(under, 0, 0)
            picture.link_to(convert)
            convert.link_to(under, 0, 1)
            under.link_to(overlay, 0, 0)
            g.link_nodes(head, fit)
        fit.link_to(overlay, 0, 1)
        return overlay

    def push(self, frame: VideoFrame | None) -> list[VideoFrame]:
        self.feed(frame)
        return list(self.frames())

    def feed(self, frame: VideoFrame | None) -> None:
        if frame is not None and (frame.width, frame.height, frame.format.name) != (
            self.width,
            self.height,
            self.format,
        ):
            # A mid-stream resolution change: bring it back to the graph's input geometry (in C).
            frame = frame.reformat(self.width, self.height, self.format)
        self.source.push(frame)

    def frames(self) -> Iterator[VideoFrame]:
        """What the graph has ready, made as it is taken (see filters.pulled)."""
        return pulled(self.sink, VideoFrame)


class _Effect:
    """zoomin, zoomout, blur, shake or a Ken Burns pan over `count` canvas frames (pts 0 … count-1)."""

    def __init__(self, effect: str, spec: OutputSpec, count: int, threads: int) -> None:
        g = self.graph = new_graph(threads)
        w, h = spec.width, spec.height
        rate = str(spec.fps)
        self.source = g.add(
            "buffer",
            video_size=f"{w}x{h}",
            pix_fmt="yuv420p",
            time_base=str(1 / spec.fps),
            pixel_aspect="1/1",
        )
        n = max(count - 1, 1)
        if effect in ("zoomin", "zoomout"):
            zoom = f"1+{ZOOM}*on/{n}" if effect == "zoomin" else f"{1 + ZOOM}-{ZOOM}*on/{n}"
            nodes = [
                g.add(
                    "zoompan", z=zoom, x="iw/2-iw/zoom/2", y="ih/2-ih/zoom/2", d="1", s=f"{w}x{h}", fps=rate
                )
            ]
        elif effect.startswith("kenburns-"):
            # Ken Burns: KEN_BURNS_ZOOM closer by the end, the window gliding to one side meanwhile.
            zoom = f"1+{KEN_BURNS_ZOOM}*on/{n}"
            across, middle_x, middle_y = f"on/{n}", "iw/2-iw/zoom/2", "ih/2-ih/zoom/2"
            x, y = {
                "kenburns-right": (f"(iw-iw/zoom)*{across}", middle_y),
                "kenburns-left": (f"(iw-iw/zoom)*(1-{across})", middle_y),
                "kenburns-down": (middle_x, f"(ih-ih/zoom)*{across}"),
                "kenburns-up": (middle_x, f"(ih-ih/zoom)*(1-{across})"),
            }[effect]
            nodes = [g.add("zoompan", z=zoom, x=x, y=y, d="1", s=f"{w}x{h}", fps=rate)]
        elif effect == "blur":  # out of focus at the start, sharp after 0.45 s
            nodes = [
                g.add("gblur", sigma=f"{max(w / 60, 1):g}", enable="lt(t,0.15)"),
                g.add("gblur", sigma=f"{max(w / 150, 1):g}", enable="between(t,0.15,0.3)"),
                g.add("gblur", sigma=f"{max(w / 400, 0.5):g}", enable="between(t,0.3,0.45)"),
            ]
        elif effect == "shake":
            big_w, big_h = _even(w * (1 + SHAKE)), _even(h * (1 + SHAKE))
            fade = f"max(0,1-t/{SHAKE_S})"
            nodes = [
                g.add("scale", f"{big_w}:{big_h}"),
                g.add(
                    "crop",
                    w=str(w),
                    h=str(h),
                    x=f"(iw-ow)/2*(1+sin(n*1.7)*{fade})",
                    y=f"(ih-oh)/2*(1+sin(n*2.3+1)*{fade})",
                ),  # fmt: skip
            ]
        else:
            raise ValueError(f"unknown effect {effect!r}")
        self.sink = g.add("buffersink")
        g.link_nodes(
            self.source, *nodes, g.add("format", "yuv420p"), g.add("setsar", "1"), self.sink
        ).configure()
        self.time_base = 1 / spec.fps
        self.pushed = 0

    def push(self, frame: VideoFrame | None) -> list[VideoFrame]:
        if frame is None:
            self.source.push(None)
        else:
            push_stamped(self.source, frame, self.pushed, self.time_base)
            self.pushed += 1
        return pull_available(self.sink, VideoFrame)[0]


def _same_aspect(width: int, height: int, sar: Fraction, spec: OutputSpec) -> bool:
    crop_w, crop_h = crop_to_aspect(width, height, sar, Fraction(spec.width, spec.height))
    return crop_w * crop_h >= 0.99 * width * height


def _cover_nodes(
    g: Graph, width: int, height: int, sar: Fraction, out_w: int, out_h: int
) -> list[FilterContext]:
    crop_w, crop_h = crop_to_aspect(width, height, sar, Fraction(out_w, out_h))
    x, y = (width - crop_w) // 2, (height - crop_h) // 2
    # One colour convention for every source (JPEGs are full range, PNGs RGB, old clips BT.601), the
    # one the encoder declares: otherwise players guess, and stills come out too bright or off-hue.
    return [g.add("crop", f"{crop_w}:{crop_h}:{x}:{y}"), g.add("scale", f"{out_w}:{out_h}:{TO_BT709}")]


def crop_to_aspect(width: int, height: int, sar: Fraction, aspect: Fraction) -> tuple[int, int]:
    """The largest centred pixel region whose displayed aspect ratio is `aspect`."""
    if width * sar / height > aspect:  # too wide: keep the height
        return max(1, min(width, round(height * aspect / sar))), height
    return width, max(1, min(height, round(width * sar / aspect)))


def fit_inside(width: int, height: int, sar: Fraction, spec: OutputSpec) -> tuple[int, int]:
    """The largest size (even numbers) with the source's displayed aspect that fits the canvas."""
    aspect = Fraction(width) * sar / height
    if aspect > Fraction(spec.width, spec.height):
        return spec.width, min(spec.height, _even(spec.width / aspect))
    return min(spec.width, _even(spec.height * aspect)), spec.height


def _even(x: Fraction | float) -> int:
    return max(2, round(x / 2) * 2)


@dataclass(frozen=True)
class ShotKey:
    """Everything that decides a shot's framed frames (its effect is applied after the frame cache)."""

    file: FileIdentity  # another file at the same path misses
    in_s: Fraction
    speed: Fraction
    still: bool
    count: int
    width: int
    height: int
    fps: Fraction
    background: Background


def shot_key(path: str, shot: Shot, canvas: Canvas, count: int) -> ShotKey | None:
    """The frame cache's key of a shot; None when it is not cached (framed over a background picture)."""
    if canvas.background_frame is not None:
        return None
    file = file_identity(path)
    if file is None:
        return None  # opening it reports the problem
    spec = canvas.spec
    return ShotKey(
        file,
        shot.in_s,
        shot.speed,
        shot.is_image,
        count,
        spec.width,
        spec.height,
        spec.fps,
        canvas.background,
    )


def shot_video_frames(
    path: str, url: str, shot: Shot, canvas: Canvas, count: int, cache: ShotCache | None = None
) -> Generator[VideoFrame, None, None]:
    """Exactly `count` canvas frames for the shot (the last one repeated if the source runs out).

    Yielded frames carry no meaningful pts: the caller stamps them on the output timeline. With a
    `cache`, the framed frames of a shot seen before are taken from it, and new ones are kept in it.
    """
    if count <= 0:
        return
    key = shot_key(path, shot, canvas, count) if cache is not None and cache.limit_bytes else None
    cached = cache.get(key) if cache is not None and key is not None else None
    if cached is not None:
        try:
            yield from _with_effect(iter(cached), shot.effect, canvas, count) if shot.effect else cached
        except av.FFmpegError as e:
            raise MaterialUnreadableError(f"cannot decode media {url}: {describe(e)}") from e
        return
    with open_input(path, url) as container:
        if not container.streams.video:
            raise MaterialUnreadableError(f"media {url} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # PyAV opens decoders with slice threads only: H.264 decodes on one core
        stream.thread_count = canvas.threads.decoder
        try:
            if shot.is_image:
                framed = _still(container, stream, canvas, count)
            else:
                framed = _moving(container, stream, shot, canvas, count)
            if cache is not None and key is not None:
                framed = cache.keeping(key, framed, count, unique=1 if shot.is_image else count)
            if shot.effect:
                yield from _with_effect(framed, shot.effect, canvas, count)
            else:
                yield from framed
        except av.FFmpegError as e:
            raise MaterialUnreadableError(f"cannot decode media {url}: {describe(e)}") from e
        except _NoFrames as e:
            raise MaterialUnreadableError(f"media {url} has no decodable video frame") from e


class _NoFrames(Exception):
    pass


def _with_effect(
    frames: Iterator[VideoFrame], effect: str, canvas: Canvas, count: int
) -> Iterator[VideoFrame]:
    graph = _Effect(effect, canvas.spec, count, canvas.threads.filters)
    produced = 0
    last: VideoFrame | None = None
    for frame in frames:
        for out in graph.push(frame):
            yield out
            last = out
            produced += 1
    for out in graph.push(None):
        if produced < count:
            yield out
            last = out
            produced += 1
    while produced < count and last is not None:  # never: the effect graphs keep the frame count
        yield last
        produced += 1


def _still(
    container: InputContainer, stream: VideoStream, canvas: Canvas, count: int
) -> Iterator[VideoFrame]:
    image = next(iter(container.decode(stream)), None)
    if image is None:
        raise _NoFrames
    framer = _Framer(image, stream, canvas, still=True, speed=Fraction(1))
    frames = framer.push(image) + framer.push(None)
    if not frames:
        raise _NoFrames
    for _ in range(count):  # one framed picture, encoded `count` times
        yield frames[0]


def _moving(
    container: InputContainer, stream: VideoStream, shot: Shot, canvas: Canvas, count: int
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
            framer = _Framer(frame, stream, canvas, still=False, speed=shot.speed)
        frame.pts = pts - in_pts  # shot-relative, so that fps' start_time=0 is the in-point
        if frame.pts <= 0:
            pending = frame
            continue
        if pending is not None:
            pending.pts = 0  # a frame from before in_s is shown from in_s
            framer.feed(pending)
            pending = None
        framer.feed(frame)
        # Taken one at a time: two source frames 45 s apart make 1350 canvas frames, never all at once.
        for out in framer.frames():
            yield out
            last = out
            produced += 1
            if produced == count:
                return

    if framer is None:
        raise _NoFrames
    if pending is not None:  # the in-point is at or after the source's last frame
        pending.pts = 0
        framer.feed(pending)
    framer.feed(None)
    for out in framer.frames():
        yield out
        last = out
        produced += 1
        if produced == count:
            return
    if last is None:
        raise _NoFrames
    for _ in range(count - produced):  # the source ran out: hold its last frame
        yield last
