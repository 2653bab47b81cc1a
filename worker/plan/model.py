"""What a variant's plan is: the timeline, its layers and output settings (pure data, and its JSON).

Times are exact Fractions of a second on the output frame grid. worker/plan/planner.py makes them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from reelmill.jobspec import DEFAULT_BLUR_RADIUS, OutputSpec

MUSIC_FADE_OUT_S = Fraction(1)


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
    duration_s: Fraction  # how long it lasts on the output timeline (transition overlaps included)
    is_image: bool
    volume: float  # linear gain of the source's own sound
    speed: Fraction = Fraction(1)  # source seconds per output second (1 for stills)
    transition: str = ""  # the xfade transition from the previous shot into this one
    transition_s: Fraction = Fraction(0)  # its length: this shot starts that much before the last ends
    effect: str = ""  # one of VFX_EFFECTS or KEN_BURNS, or ""
    group: str = ""  # the storyboard group it comes from (Script mode)


@dataclass(frozen=True)
class TextLook:
    """A text style resolved to output pixels."""

    font: str  # a font name ("" for the default font)
    size_px: int
    color: str  # #RRGGBB or #RRGGBBAA
    outline_px: int
    outline_color: str
    alignment: str  # one of ALIGNMENTS: which point of the text block sits at (x_px, y_px)
    x_px: int
    y_px: int
    width_px: int  # lines wrap at this width
    shadow_px: int = 0  # a drop shadow this far down and right
    box_color: str = ""  # a rounded box behind the text (#RRGGBB or #RRGGBBAA), "" for none
    padding_px: int = 0  # between the box's edge and the text (0 without a box)


@dataclass(frozen=True)
class Caption:
    """A text drawn over the video from start_s to end_s."""

    kind: str  # Title, SubHeading<level> or Subtitle
    text: str
    look: TextLook  # size_px as laid out (it may have been shrunk to fit)
    start_s: Fraction
    end_s: Fraction
    lines: tuple[str, ...] = ()  # as the layout broke them ((): not laid out, the renderer wraps)
    box: tuple[int, int, int, int] | None = None  # x, y, width, height on the canvas, outline included
    missing: str = ""  # characters no font draws (they show as boxes)


@dataclass(frozen=True)
class StickerLayer:
    url: str
    x_px: int
    y_px: int
    width_px: int
    height_px: int
    opacity: float


@dataclass(frozen=True)
class SpeechLayer:
    """One narration (a whole text, or a group's paragraph) placed on the timeline."""

    text: str
    voice: str
    audio_path: str
    start_s: Fraction
    duration_s: Fraction  # on the timeline, after the speed-up
    speed: Fraction  # > 1 when the speech was sped up to fit MaxDuration
    volume: float


@dataclass(frozen=True)
class MusicLayer:
    url: str
    volume: float
    ducking: bool  # lowered while speech plays
    fade_out_s: Fraction = MUSIC_FADE_OUT_S


@dataclass(frozen=True)
class Background:
    """How media of another aspect ratio fill the canvas."""

    mode: str = "Crop"  # one of BACKGROUNDS
    color: str = "#000000"
    radius: float = DEFAULT_BLUR_RADIUS
    image_url: str = ""


@dataclass(frozen=True)
class VariantPlan:
    index: int
    shots: tuple[Shot, ...]
    output: OutputSpec
    captions: tuple[Caption, ...] = ()
    stickers: tuple[StickerLayer, ...] = ()
    speech: tuple[SpeechLayer, ...] = ()
    music: MusicLayer | None = None
    background: Background = Background()
    color_filter: str = ""  # one of FILTERS, or ""
    job_type: str = "Script"
    distinct_variants: int = 1
    starts_s: tuple[Fraction, ...] = field(init=False)
    duration_s: Fraction = field(init=False)

    def __post_init__(self) -> None:
        starts, t = [], Fraction(0)
        for i, s in enumerate(self.shots):
            if i:
                t -= s.transition_s
            starts.append(t)
            t += s.duration_s
        object.__setattr__(self, "starts_s", tuple(starts))
        object.__setattr__(self, "duration_s", t)

    @property
    def frame_count(self) -> int:
        return int(self.duration_s * self.output.fps)

    def to_json(self) -> str:
        """Everything that decides how the video looks and sounds, for the person who asks why."""
        sec = _seconds_json
        doc: dict[str, Any] = {
            "Index": self.index,
            "JobType": self.job_type,
            "Duration": sec(self.duration_s),
            "DistinctVariants": self.distinct_variants,
            "Shots": [
                {
                    "Media": s.source_url,
                    **({"Group": s.group} if s.group else {}),
                    "Start": sec(start),
                    "Duration": sec(s.duration_s),
                    "In": sec(s.in_s),
                    "Out": sec(s.in_s + (0 if s.is_image else s.duration_s * s.speed)),
                    "Speed": round(float(s.speed), 4),
                    "Volume": s.volume,
                    **({"Image": True} if s.is_image else {}),
                    **(
                        {"Transition": s.transition, "TransitionDuration": sec(s.transition_s)}
                        if s.transition
                        else {}
                    ),
                    **({"Effect": s.effect} if s.effect else {}),
                }
                for s, start in zip(self.shots, self.starts_s, strict=True)
            ],
            "Texts": [
                {
                    "Kind": c.kind,
                    "Text": c.text,
                    "Start": sec(c.start_s),
                    "End": sec(c.end_s),
                    "Style": {
                        "Font": c.look.font or "default",
                        "FontSize": c.look.size_px,
                        "FontColor": c.look.color,
                        "Outline": c.look.outline_px,
                        "OutlineColour": c.look.outline_color,
                        "Alignment": c.look.alignment,
                        "X": c.look.x_px,
                        "Y": c.look.y_px,
                        "TextWidth": c.look.width_px,
                        **({"Shadow": c.look.shadow_px} if c.look.shadow_px else {}),
                        **({"BackColour": c.look.box_color} if c.look.box_color else {}),
                    },
                    **({"Lines": list(c.lines)} if c.lines else {}),
                    **({"Box": list(c.box)} if c.box else {}),
                    **({"MissingGlyphs": c.missing} if c.missing else {}),
                }
                for c in self.captions
            ],  # fmt: skip
            "Stickers": [
                {
                    "Media": s.url,
                    "X": s.x_px,
                    "Y": s.y_px,
                    "Width": s.width_px,
                    "Height": s.height_px,
                    "Opacity": s.opacity,
                }
                for s in self.stickers
            ],  # fmt: skip
            "Speech": [
                {
                    "Text": s.text,
                    "Voice": s.voice or "default",
                    "Start": sec(s.start_s),
                    "Duration": sec(s.duration_s),
                    "Speed": round(float(s.speed), 4),
                    "Volume": s.volume,
                }
                for s in self.speech
            ],  # fmt: skip
            "Music": None
            if self.music is None
            else {
                "Media": self.music.url,
                "Volume": self.music.volume,
                "Ducking": self.music.ducking,
                "FadeOut": sec(self.music.fade_out_s),
            },  # fmt: skip
            "Background": {"SubType": self.background.mode}
            | ({"Color": self.background.color} if self.background.mode == "Color" else {})
            | ({"Radius": self.background.radius} if self.background.mode == "Blur" else {})
            | ({"Media": self.background.image_url} if self.background.mode == "Image" else {}),
            "Filter": self.color_filter or None,
            "Output": {
                "Width": self.output.width,
                "Height": self.output.height,
                "Fps": float(self.output.fps),
                "Codec": self.output.codec,
                "Crf": self.output.crf,
                "Preset": self.output.preset,
                "Bitrate": self.output.video_bitrate_kbps,
                "Gop": self.output.gop,
                "AudioBitrate": self.output.audio_bitrate_kbps,
                "Loudness": self.output.loudness_lufs,
                "TruePeak": self.output.true_peak_db,
            },
        }
        # Two variants with the same fingerprint look and sound the same: the gateway reports the later
        # one as a repeat (SubJob.RepeatOf). Index and DistinctVariants do not show in the video.
        seen = {k: v for k, v in doc.items() if k not in ("Index", "DistinctVariants")}
        digest = hashlib.sha256(json.dumps(seen, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        doc["Fingerprint"] = digest[:16]
        return json.dumps(doc, ensure_ascii=False)


def _seconds_json(t: Fraction) -> float:
    return round(float(t), 4)
