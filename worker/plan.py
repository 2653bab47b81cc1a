"""The render plan of one variant: pure, deterministic code (no I/O).

Media facts (durations, sizes) come in; a timeline of shots comes out. Times are exact Fractions of
a second, put on the output frame grid so that cut points never fall between frames.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2
from worker.errors import MaterialUnreadableError

DEFAULT_GROUP_DURATION_S = Fraction(5)
DEFAULT_SHOT_DURATION_S = Fraction(3)
DEFAULT_IMAGE_DURATION_S = Fraction(3)
DEFAULT_WIDTH, DEFAULT_HEIGHT = 1080, 1920
DEFAULT_FPS = Fraction(30)
DEFAULT_CRF = 23
DEFAULT_PRESET = "veryfast"
DEFAULT_AUDIO_BITRATE_KBPS = 128


@dataclass(frozen=True)
class MediaFacts:
    """What probing a media file found."""

    url: str
    is_image: bool
    width: int
    height: int
    duration_s: Fraction  # 0 for images
    has_audio: bool


@dataclass(frozen=True)
class Shot:
    """A piece of one source placed on the timeline."""

    source_url: str
    in_s: Fraction  # where the shot starts inside the source
    duration_s: Fraction  # how long it lasts on the output timeline
    is_image: bool
    volume: float  # linear gain of the source's own sound


@dataclass(frozen=True)
class OutputSpec:
    width: int
    height: int
    fps: Fraction
    codec: str  # "h264" or "hevc"
    crf: int
    preset: str
    video_bitrate_kbps: int | None
    gop: int | None
    audio_bitrate_kbps: int


@dataclass(frozen=True)
class VariantPlan:
    index: int
    shots: tuple[Shot, ...]
    output: OutputSpec
    duration_s: Fraction = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration_s", sum((s.duration_s for s in self.shots), Fraction(0)))

    @property
    def frame_count(self) -> int:
        return int(self.duration_s * self.output.fps)

    def to_json(self) -> str:
        return json.dumps(
            {
                "Index": self.index,
                "Duration": float(self.duration_s),
                "Shots": [
                    {
                        "Media": s.source_url,
                        "In": float(s.in_s),
                        "Duration": float(s.duration_s),
                        "Volume": s.volume,
                    }
                    for s in self.shots
                ],
                "Output": {
                    "Width": self.output.width,
                    "Height": self.output.height,
                    "Fps": float(self.output.fps),
                    "Codec": self.output.codec,
                    "Crf": self.output.crf,
                    "Preset": self.output.preset,
                },
            },
            ensure_ascii=False,
        )


# -- choosing and timing shots ------------------------------------------------------------------------

SMART_MIX_DEFAULT_DURATION_S = Fraction(15)


def chosen_media(cmd: render_pb2.RenderCommand) -> list[str]:
    """The media URLs variant `cmd.index` uses, in timeline order (before anything is probed)."""
    ic = cmd.input_config
    if ic.media_group_array:
        return _combination([list(g.media_array) for g in ic.media_group_array], cmd.seed, cmd.index)
    return _shuffled(list(ic.media_array), cmd.seed, cmd.index)


def plan_variant(cmd: render_pb2.RenderCommand, facts: dict[str, MediaFacts]) -> VariantPlan:
    """The timeline of variant `cmd.index`: a pure function of the command and the media facts."""
    output = output_spec(cmd.output_config)
    fps = output.fps
    ec, oc = cmd.editing_config, cmd.output_config
    media_volume = _volume(ec.media_config, default=1.0)
    shot_s = _seconds(ec.process_config, "single_shot_duration", DEFAULT_SHOT_DURATION_S)
    image_s = _seconds(ec.process_config, "image_duration", DEFAULT_IMAGE_DURATION_S)
    rng = random.Random(f"{cmd.seed}:{cmd.index}:timing")
    shots: list[Shot] = []
    ic = cmd.input_config
    if ic.media_group_array:
        for g, url in zip(ic.media_group_array, chosen_media(cmd), strict=True):
            want = Fraction(str(g.duration)) if g.HasField("duration") else DEFAULT_GROUP_DURATION_S
            volume = g.volume if g.HasField("volume") else media_volume
            shots.append(_shot(facts[url], want, volume, fps, rng))
        limit = _limit(oc)
    else:
        limit = _limit(oc) or SMART_MIX_DEFAULT_DURATION_S
        total = Fraction(0)
        for url in chosen_media(cmd):
            if total >= limit:
                break
            want = image_s if facts[url].is_image else shot_s
            shot = _shot(facts[url], want, media_volume, fps, rng)
            shots.append(shot)
            total += shot.duration_s
    if limit:
        shots = _cut(shots, _on_grid(limit, fps))
    shots = [s for s in shots if s.duration_s > 0]
    if not shots:
        raise MaterialUnreadableError("no usable shot: every chosen media is shorter than one frame")
    return VariantPlan(index=cmd.index, shots=tuple(shots), output=output)


def output_spec(oc: cfg.OutputConfig) -> OutputSpec:
    v = oc.video
    return OutputSpec(
        width=oc.width if oc.HasField("width") else DEFAULT_WIDTH,
        height=oc.height if oc.HasField("height") else DEFAULT_HEIGHT,
        fps=exact_fps(v.fps) if v.HasField("fps") else DEFAULT_FPS,
        codec="hevc" if v.codec == "H.265" else "h264",
        crf=v.crf if v.HasField("crf") else DEFAULT_CRF,
        preset=v.preset or DEFAULT_PRESET,
        video_bitrate_kbps=v.bitrate if v.HasField("bitrate") else None,
        gop=v.gop if v.HasField("gop") else None,
        audio_bitrate_kbps=oc.audio.bitrate if oc.audio.HasField("bitrate") else DEFAULT_AUDIO_BITRATE_KBPS,
    )


def exact_fps(fps: float) -> Fraction:
    """The rate meant by a decimal: 29.97 is NTSC's 30000/1001, not 2997/100."""
    ntsc = Fraction(round(fps * Fraction(1001, 1000)) * 1000, 1001)
    if ntsc.denominator != 1 and abs(float(ntsc) - fps) < 0.005:
        return ntsc
    return Fraction(str(fps)).limit_denominator(1000)


def _combination(groups: list[list[str]], seed: int, index: int) -> list[str]:
    """One option per group, so that variants 0 … total-1 are pairwise distinct combinations.

    Variant k takes combination (offset + k·stride) mod total, read as a mixed-radix number whose
    digits index seeded shuffles of each group; a stride coprime with total visits every combination
    once before any repeats.
    """
    rng = random.Random(f"{seed}:combinations")
    orders = [rng.sample(options, len(options)) for options in groups]
    total = math.prod(len(o) for o in orders)
    offset = rng.randrange(total)
    stride = rng.randrange(1, total) if total > 1 else 1
    while math.gcd(stride, total) != 1:
        stride += 1
    number = (offset + index * stride) % total
    chosen = []
    for order in orders:
        number, digit = divmod(number, len(order))
        chosen.append(order[digit])
    return chosen


def distinct_variants(groups: list[list[str]], count: int) -> int:
    """How many of `count` variants can differ in their choice of media."""
    return min(count, math.prod(len(g) for g in groups))


def _shuffled(pool: list[str], seed: int, index: int) -> list[str]:
    order = list(pool)
    random.Random(f"{seed}:pool:{index}").shuffle(order)
    return order


def _shot(facts: MediaFacts, want_s: Fraction, volume: float, fps: Fraction, rng: random.Random) -> Shot:
    if facts.is_image:
        return Shot(facts.url, Fraction(0), _on_grid(want_s, fps), True, 0.0)
    length = _on_grid(min(want_s, facts.duration_s), fps)
    slack_frames = math.floor((facts.duration_s - length) * fps)
    start = Fraction(rng.randint(0, max(slack_frames, 0)), 1) / fps
    return Shot(facts.url, start, length, False, volume if facts.has_audio else 0.0)


def _cut(shots: list[Shot], limit: Fraction) -> list[Shot]:
    out, total = [], Fraction(0)
    for s in shots:
        if total >= limit:
            break
        keep = min(s.duration_s, limit - total)
        out.append(Shot(s.source_url, s.in_s, keep, s.is_image, s.volume))
        total += keep
    return out


def _limit(oc: cfg.OutputConfig) -> Fraction | None:
    if oc.HasField("fixed_duration"):
        return Fraction(str(oc.fixed_duration))
    if oc.HasField("max_duration"):
        return Fraction(str(oc.max_duration))
    return None


def _on_grid(seconds: Fraction, fps: Fraction) -> Fraction:
    return Fraction(math.floor(seconds * fps)) / fps


def _seconds(msg: object, field_name: str, default: Fraction) -> Fraction:
    return Fraction(str(getattr(msg, field_name))) if msg.HasField(field_name) else default  # type: ignore[attr-defined]


def _volume(conf: cfg.MediaConfig, default: float) -> float:
    if conf.HasField("volume"):
        return conf.volume
    if conf.HasField("gain"):
        return conf.gain
    return default
