"""The variant's picture: shots joined by xfade transitions, the colour filter, then texts and
stickers overlaid, in one libavfilter graph.

Shot i comes in on its own buffer source; xfade k starts at the timeline time where shot k begins
(the plan's starts_s), so the graph's output is exactly the plan's timeline. Texts and stickers are
RGBA pictures pushed once (overlay repeats the last picture of an input that has ended) and shown
during their time with overlay's timeline `enable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from av.filter.context import FilterContext
from av.video.frame import VideoFrame

from worker.plan import OutputSpec, VariantPlan
from worker.render.filters import pull_available, push_stamped
from worker.render.threads import new_graph

# The colour filters, in YUV lookup tables (an RGB round trip costs ten times as much at 1080p).
COLOR_FILTERS: dict[str, tuple[str, dict[str, str]]] = {
    "warm": ("lutyuv", {"u": "clip(val-7,16,240)", "v": "clip(val+9,16,240)"}),
    "cool": ("lutyuv", {"u": "clip(val+9,16,240)", "v": "clip(val-7,16,240)"}),
    "mono": ("lutyuv", {"u": "128", "v": "128"}),
    "vivid": ("lutyuv", {"y": "clip(16+(val-16)*1.06,16,235)", "u": "clip(128+(val-128)*1.4,16,240)",
                         "v": "clip(128+(val-128)*1.4,16,240)"}),
    "vintage": ("lutyuv", {"y": "clip(val*0.82+34,16,235)", "u": "clip(128+(val-128)*0.6-6,16,240)",
                           "v": "clip(128+(val-128)*0.6+8,16,240)"}),
}  # fmt: skip
TO_BT709 = "out_color_matrix=bt709:out_range=tv"


@dataclass(frozen=True)
class Layer:
    """An RGBA picture over the video from start_s to end_s, its top-left corner at (x, y)."""

    frame: VideoFrame  # rgba
    x: int
    y: int
    start_s: Fraction
    end_s: Fraction


class Timeline:
    """One graph for the whole picture; holding it keeps it alive while frames are pushed."""

    def __init__(self, plan: VariantPlan, layers: Sequence[Layer], threads: int = 1) -> None:
        spec = plan.output
        g = self.graph = new_graph(threads)
        self.time_base = 1 / spec.fps
        self.sources = [self._canvas_source(spec) for _ in plan.shots]
        joined: FilterContext = self.sources[0]
        for shot, start, source in zip(plan.shots[1:], plan.starts_s[1:], self.sources[1:], strict=True):
            if shot.transition_s:
                xfade = g.add(
                    "xfade", transition=shot.transition, duration=_s(shot.transition_s), offset=_s(start)
                )
            else:  # a plain cut is a transition of no length; concat keeps the same timeline
                xfade = g.add("concat", n="2", v="1", a="0")
            joined.link_to(xfade, 0, 0)
            source.link_to(xfade, 0, 1)
            joined = xfade
        if plan.color_filter:
            name, options = COLOR_FILTERS[plan.color_filter]
            node = g.add(name, **options)
            joined.link_to(node)
            joined = node
        half_frame = self.time_base / 2
        pictures = []
        for layer in layers:
            picture = g.add("buffer", video_size=f"{layer.frame.width}x{layer.frame.height}", pix_fmt="rgba",
                            time_base=str(self.time_base), pixel_aspect="1/1")  # fmt: skip
            convert = g.add("scale", f"{layer.frame.width}:{layer.frame.height}:{TO_BT709}")
            to_yuva = g.add("format", "yuva420p")
            # Frame k is at k/fps: the half-frame margins make the comparison exact.
            enable = f"between(t,{_s(layer.start_s - half_frame)},{_s(layer.end_s - half_frame)})"
            overlay = g.add("overlay", x=str(layer.x), y=str(layer.y), enable=enable, format="yuv420")
            g.link_nodes(picture, convert, to_yuva)
            joined.link_to(overlay, 0, 0)
            to_yuva.link_to(overlay, 0, 1)
            joined = overlay
            pictures.append((picture, layer.frame))
        self.sink = g.add("buffersink")
        g.link_nodes(joined, g.add("format", "yuv420p"), self.sink)
        g.configure()
        for picture, frame in pictures:
            frame.pts, frame.time_base = 0, self.time_base
            picture.push(frame)
            picture.push(None)  # the overlay repeats it to the end

    def _canvas_source(self, spec: OutputSpec) -> FilterContext:
        return self.graph.add("buffer", video_size=f"{spec.width}x{spec.height}", pix_fmt="yuv420p",
                              time_base=str(self.time_base), pixel_aspect="1/1",
                              frame_rate=str(spec.fps))  # fmt: skip

    def push(self, shot: int, frame: VideoFrame | None, index: int = 0) -> list[VideoFrame]:
        """Frame `index` of shot `shot` (None: the shot has ended); the timeline frames now ready."""
        if frame is None:
            self.sources[shot].push(None)
        else:
            push_stamped(self.sources[shot], frame, index, self.time_base, duration=1)
        return pull_available(self.sink, VideoFrame)[0]


def _s(t: Fraction) -> str:
    return f"{float(t):.6f}"
