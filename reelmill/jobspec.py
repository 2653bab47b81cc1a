"""The normalised job: how a variant is rendered, as one frozen, typed spec with every default applied.

A request's configs say what they say and leave the rest out; this module is the one place that fills
the rest in (Crf, Preset, codec, frame rate, sizes and previews, durations, transitions, effects,
filters, volumes, speech language and voices, subtitles, ducking, background) and decides the
precedences (a Bitrate wins over Crf; a narration silences the clips unless MediaConfig says
otherwise; Volume or its alias Gain). The gateway normalises each variant's configs once and carries
the spec in its render command (RenderCommand.spec, JSON); the planner reads the spec, never a
default of its own. What the configs hold as content (media, texts, text styles, stickers) the planner
reads from them.

`normalise` expects configs that passed the gateway's validation. The limits that validation checks
the output settings against live here too, beside their defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal, TypeVar

import msgspec

from reelmill import ice_names, voices
from reelmill.catalog import FILTERS, VFX_EFFECTS
from reelmill.v1 import job_config_pb2 as cfg
from reelmill.v1 import render_pb2

_D = TypeVar("_D", Fraction, None)

SCRIPT, SMART_MIX = "Script", "Smart_Mix"
JOB_TYPES = (SCRIPT, SMART_MIX)

# Output: ICE's names, the encoders' names, the defaults and the ranges validation enforces.
CODECS: dict[str, Literal["h264", "hevc"]] = {"H.264": "h264", "H.265": "hevc"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
DEFAULT_WIDTH, DEFAULT_HEIGHT = 1080, 1920
SIZE_RANGE = (64, 4096)  # even numbers only
DEFAULT_FPS = Fraction(30)
FPS_RANGE = (1, 60)
DEFAULT_CRF = 23
CRF_RANGE = (0, 51)
DEFAULT_PRESET = "veryfast"
VIDEO_BITRATE_KBPS_RANGE = (100, 100_000)
GOP_RANGE = (1, 1000)
DEFAULT_AUDIO_BITRATE_KBPS = 128
AUDIO_BITRATE_KBPS_RANGE = (32, 512)
# Loudness (EBU R128): -14 LUFS integrated is what YouTube, TikTok and Instagram play at; a true peak of
# -1 dBTP leaves room for the lossy encoders those platforms re-encode with.
DEFAULT_LOUDNESS_LUFS = -14.0
LOUDNESS_LUFS_RANGE = (-40.0, -5.0)
DEFAULT_TRUE_PEAK_DB = -1.0
TRUE_PEAK_DB_RANGE = (-9.0, 0.0)
PREVIEW_LONGEST_SIDE = 640
PREVIEW_PRESET = "ultrafast"

# Timing.
DEFAULT_SHOT_DURATION_S = Fraction(3)
DEFAULT_IMAGE_DURATION_S = Fraction(3)
DEFAULT_TRANSITION_S = Fraction(1, 2)
DEFAULT_SMART_MIX_DURATION_S = Fraction(15)  # Smart_Mix without narration, FixedDuration or MaxDuration

# Look.
DEFAULT_TRANSITIONS = ("fade", "dissolve", "wipeleft", "slideleft", "circleopen", "smoothup")
DEFAULT_VFX_PROBABILITY = 0.5
DEFAULT_BACKGROUND = "Crop"
ICE_BACKGROUND_TYPES = {"blur": "Blur", "color": "Color", "colour": "Color", "image": "Image", "crop": "Crop"}
DEFAULT_BACKGROUND_COLOR = "#000000"
DEFAULT_BLUR_RADIUS = 20.0

# Sound.
DEFAULT_SPEECH_VOLUME = 1.0
DEFAULT_MUSIC_VOLUME = 0.2


@dataclass(frozen=True)
class OutputSpec:
    """What the encoder makes: the output size (a preview's, for previews) and the codec settings."""

    width: int
    height: int
    fps: Fraction
    codec: str  # "h264" or "hevc"
    crf: int | None  # None when a bitrate is asked for
    preset: str
    video_bitrate_kbps: int | None
    gop: int | None
    audio_bitrate_kbps: int
    loudness_lufs: float | None = None  # the integrated loudness of the mix (None: not normalised)
    true_peak_db: float = DEFAULT_TRUE_PEAK_DB


@dataclass(frozen=True)
class Timing:
    max_duration_s: Fraction | None
    fixed_duration_s: Fraction | None
    group_durations_s: tuple[Fraction, ...]  # per storyboard group, without narration
    single_shot_s: Fraction
    image_s: Fraction
    transition_s: Fraction  # 0: no transitions; else an even number of frames (half is on the grid), >= 2
    # AlignmentMode AutoSpeed: footage sped up or slowed down to fit a narration. Otherwise (Cut, and by
    # default) footage plays at its own speed: more shots are added and the last is cut at the end.
    auto_speed: bool
    group_splits: tuple[bool, ...]  # per group: long media split into single_shot_s pieces (else NoSplit)
    pool_split: bool  # the same for Smart_Mix's pool


@dataclass(frozen=True)
class Look:
    transitions: tuple[str, ...]
    uniform_transition: bool
    effects: bool
    effect_probability: float
    first_effects: tuple[str, ...]
    other_effects: tuple[str, ...]
    filter: bool
    filters: tuple[str, ...]
    background: str  # one of catalog.BACKGROUND_TYPES
    background_color: str
    blur_radius: float  # pixels of the requested size


@dataclass(frozen=True)
class Sound:
    media_volume: float  # the clips' own sound, unless their group says otherwise
    group_volumes: tuple[float | None, ...]
    speech_volume: float
    music_volume: float
    ducking: bool


@dataclass(frozen=True)
class Speech:
    language: str
    voices: tuple[str, ...]  # one per variant, rotating; empty: the language's default voice
    rate: int  # SpeechRate, -500…500
    subtitles: bool


@dataclass(frozen=True)
class JobSpec:
    job_type: str
    output: OutputSpec
    requested_width: int  # what OutputConfig asked for: pixel values of the job are meant for it
    requested_height: int
    timing: Timing
    look: Look
    sound: Sound
    speech: Speech


def job_type_of(ic: cfg.InputConfig) -> str:
    """Script with storyboard groups, Smart_Mix with a media pool (groups win when both are given)."""
    return SMART_MIX if ic.media_array and not ic.media_group_array else SCRIPT


def normalise(ic: cfg.InputConfig, ec: cfg.EditingConfig, oc: cfg.OutputConfig) -> JobSpec:
    output = output_spec(oc)
    pc, sc = ec.process_config, ec.speech_config
    narrated = bool(ic.speech_text_array or ic.speech_text) or any(
        g.speech_text_array for g in ic.media_group_array
    )
    single_shot_s = _seconds(pc, "single_shot_duration", DEFAULT_SHOT_DURATION_S)
    # a group's SplitMode wins over EnableClipSplit
    clip_split = pc.enable_clip_split if pc.HasField("enable_clip_split") else True
    bg, music = ec.background_image_config, ec.background_music_config
    requested_width = oc.width if oc.HasField("width") else DEFAULT_WIDTH
    return JobSpec(
        job_type=job_type_of(ic),
        output=output,
        requested_width=requested_width,
        requested_height=oc.height if oc.HasField("height") else DEFAULT_HEIGHT,
        timing=Timing(
            max_duration_s=_seconds(oc, "max_duration", None),
            fixed_duration_s=_seconds(oc, "fixed_duration", None),
            # without a Duration, a group lasts one SingleShotDuration, as ICE's FAQ says
            group_durations_s=tuple(_seconds(g, "duration", single_shot_s) for g in ic.media_group_array),
            single_shot_s=single_shot_s,
            image_s=_seconds(pc, "image_duration", DEFAULT_IMAGE_DURATION_S),
            transition_s=_transition_s(pc, output.fps) if pc.allow_transition else Fraction(0),
            auto_speed=pc.alignment_mode == "AutoSpeed",
            group_splits=tuple(
                g.split_mode == "AverageSplit" if g.split_mode else clip_split for g in ic.media_group_array
            ),  # fmt: skip
            pool_split=clip_split,
        ),
        look=Look(
            transitions=_ours(pc.transition_list, ice_names.transition) or DEFAULT_TRANSITIONS,
            uniform_transition=pc.use_uniform_transition if pc.HasField("use_uniform_transition") else True,
            effects=pc.allow_vfx_effect,
            effect_probability=(
                pc.vfx_effect_probability
                if pc.HasField("vfx_effect_probability")
                else DEFAULT_VFX_PROBABILITY
            ),  # fmt: skip
            first_effects=_ours(pc.vfx_first_clip_effect_list, ice_names.effect) or VFX_EFFECTS,
            other_effects=_ours(pc.vfx_not_first_clip_effect_list, ice_names.effect) or VFX_EFFECTS,
            filter=pc.allow_filter,
            filters=_ours(pc.filter_list, ice_names.colour_filter) or FILTERS,
            background=background_type(bg, ic),
            background_color=bg.color or DEFAULT_BACKGROUND_COLOR,
            blur_radius=_radius_px(bg, requested_width),
        ),
        sound=Sound(
            media_volume=_gain(ec.media_config, 0.0 if narrated else 1.0),
            group_volumes=tuple(g.volume if g.HasField("volume") else None for g in ic.media_group_array),
            speech_volume=_gain(sc, DEFAULT_SPEECH_VOLUME),
            music_volume=_gain(music, DEFAULT_MUSIC_VOLUME),
            ducking=music.ducking if music.HasField("ducking") else True,
        ),
        speech=Speech(
            language=sc.speech_language or voices.DEFAULT_LANGUAGE,
            voices=_ours([name for name in voices.voice_list(sc.voice) if name], ice_names.voice),
            rate=sc.speech_rate,
            subtitles=sc.subtitles if sc.HasField("subtitles") else True,
        ),
    )


def background_type(bg: cfg.BackgroundImageConfig, ic: cfg.InputConfig) -> str:
    """SubType, or ICE's Type for it, or Image when background pictures are given (ICE uses them), else
    Crop. "" for a Type neither vocabulary knows (validation refuses it)."""
    if bg.sub_type:
        return bg.sub_type
    if bg.type:
        return ICE_BACKGROUND_TYPES.get(bg.type.strip().lower(), "")
    return "Image" if ic.background_image_array else DEFAULT_BACKGROUND


def output_spec(oc: cfg.OutputConfig) -> OutputSpec:
    v = oc.video
    width = oc.width if oc.HasField("width") else DEFAULT_WIDTH
    height = oc.height if oc.HasField("height") else DEFAULT_HEIGHT
    preset = v.preset or DEFAULT_PRESET
    if oc.generate_preview_only:
        width, height = preview_size(width, height)
        preset = PREVIEW_PRESET
    bitrate = v.bitrate if v.HasField("bitrate") else None
    return OutputSpec(
        width=width,
        height=height,
        fps=exact_fps(v.fps) if v.HasField("fps") else DEFAULT_FPS,
        codec=CODECS.get(v.codec, "h264"),
        crf=None if bitrate is not None else (v.crf if v.HasField("crf") else DEFAULT_CRF),
        preset=preset,
        video_bitrate_kbps=bitrate,
        gop=v.gop if v.HasField("gop") else None,
        audio_bitrate_kbps=oc.audio.bitrate if oc.audio.HasField("bitrate") else DEFAULT_AUDIO_BITRATE_KBPS,
        loudness_lufs=(
            None
            if oc.audio.HasField("normalize") and not oc.audio.normalize
            else oc.audio.loudness
            if oc.audio.HasField("loudness")
            else DEFAULT_LOUDNESS_LUFS
        ),
        true_peak_db=oc.audio.true_peak if oc.audio.HasField("true_peak") else DEFAULT_TRUE_PEAK_DB,
    )


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The size of a preview: the longest side at most PREVIEW_LONGEST_SIDE, even numbers."""
    longest = max(width, height)
    if longest <= PREVIEW_LONGEST_SIDE:
        return width, height
    k = Fraction(PREVIEW_LONGEST_SIDE, longest)
    return max(2, round(width * k / 2) * 2), max(2, round(height * k / 2) * 2)


def exact_fps(fps: float) -> Fraction:
    """The rate meant by a decimal: 29.97 is NTSC's 30000/1001, not 2997/100."""
    ntsc = Fraction(round(fps * Fraction(1001, 1000)) * 1000, 1001)
    if ntsc.denominator != 1 and abs(float(ntsc) - fps) < 0.005:
        return ntsc
    return Fraction(str(fps)).limit_denominator(1000)


def substitutions(ic: cfg.InputConfig, ec: cfg.EditingConfig, oc: cfg.OutputConfig) -> tuple[str, ...]:
    """What normalise renders otherwise than the configs name it, one line each, for the job's owner."""
    pc = ec.process_config
    look = "nearest look"
    lists: tuple[tuple[str, Sequence[str], Callable[[str], str | None], str], ...] = (
        ("ProcessConfig.TransitionList", pc.transition_list, ice_names.transition, look),
        ("ProcessConfig.VfxFirstClipEffectList", pc.vfx_first_clip_effect_list, ice_names.effect, look),
        (
            "ProcessConfig.VfxNotFirstClipEffectList",
            pc.vfx_not_first_clip_effect_list,
            ice_names.effect,
            look,
        ),
        ("ProcessConfig.FilterList", pc.filter_list, ice_names.colour_filter, f"{look} of its family"),
    )
    out = []
    for path, names, mapping, why in lists:
        for i, name in enumerate(names):
            ours = mapping(name)
            if ours is not None and ours != name:
                out.append(f"EditingConfig.{path}[{i}]: {name} → {ours} ({why})")
    out += _not_rendered(ic, ec, oc)
    for name in voices.voice_list(ec.speech_config.voice):
        ours = ice_names.voice(name) if name else None
        if ours is not None and ours != name:
            out.append(f"EditingConfig.SpeechConfig.Voice: {name} → {ours} (an offline voice of its language "
                       "and gender)")  # fmt: skip
    return tuple(out)


# -- on the wire ------------------------------------------------------------------------------------------


class SpecError(ValueError):
    """A render command's spec that does not decode: a bug or a gateway of another version."""


def encode(spec: JobSpec) -> bytes:
    return msgspec.json.encode(spec, enc_hook=_enc)


def decode(data: bytes) -> JobSpec:
    try:
        return _decode(data)
    except msgspec.DecodeError as e:  # ValidationError included
        raise SpecError(f"the render command's job spec does not decode: {e}") from e


def of_command(cmd: render_pb2.RenderCommand) -> JobSpec:
    """The spec the gateway carried in the command; made here from the configs for a command of a
    gateway that carried none (an older version, during an upgrade), by the same rules."""
    if cmd.spec:
        return decode(cmd.spec)
    return normalise(cmd.input_config, cmd.editing_config, cmd.output_config)


@lru_cache(maxsize=64)  # every variant of a batch carries the same spec; planner and selection both ask
def _decode(data: bytes) -> JobSpec:
    return msgspec.json.decode(data, type=JobSpec, dec_hook=_dec)


def _enc(value: Any) -> Any:
    if isinstance(value, Fraction):
        return str(value)  # exact: "30000/1001"
    raise NotImplementedError(type(value))


def _dec(kind: type, value: Any) -> Any:
    if kind is Fraction and isinstance(value, str):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError) as e:
            raise msgspec.ValidationError(f"not a fraction: {value!r}") from e
    raise NotImplementedError(kind)


# -- small rules --------------------------------------------------------------------------------------


def _seconds(msg: Any, name: str, default: _D) -> Fraction | _D:
    """An optional seconds field as an exact Fraction (of its decimal form: 0.1 is 1/10)."""
    return Fraction(str(getattr(msg, name))) if msg.HasField(name) else default


def _transition_s(pc: cfg.ProcessConfig, fps: Fraction) -> Fraction:
    """An even number of frames (so half a transition is on the grid too), at least two."""
    want = _seconds(pc, "transition_duration", DEFAULT_TRANSITION_S)
    frames = max(2, 2 * round(want * fps / 2))
    return Fraction(frames) / fps


def _ours(names: Sequence[str], mapping: Callable[[str], str | None]) -> tuple[str, ...]:
    """Names as reelmill renders them: its own, or ICE's mapped (reelmill/ice_names.py)."""
    return tuple(mapping(n) or n for n in names)


# ICE's options that only its cloud has: accepted, reported, not rendered.
_TEXT_OPTIONS = {
    "adapt_mode": ("AdaptMode", "texts wrap at TextWidth"),
    "size_request_type": ("SizeRequestType", "sizes are FontSize"),
    "spacing": ("Spacing", "no letter spacing"),
    "aai_motion_in_effect": ("AaiMotionInEffect", "no text animation"),
    "aai_motion_out_effect": ("AaiMotionOutEffect", "no text animation"),
    "aai_motion_loop_effect": ("AaiMotionLoopEffect", "no text animation"),
}


def _not_rendered(ic: cfg.InputConfig, ec: cfg.EditingConfig, oc: cfg.OutputConfig) -> list[str]:
    out = []
    styles = [("EditingConfig.TitleConfig", ec.title_config),
              ("EditingConfig.SpeechConfig.AsrConfig", ec.speech_config.asr_config)]  # fmt: skip
    styles += [(f"EditingConfig.SubHeadingConfig.{k}", s) for k, s in sorted(ec.sub_heading_config.items())]
    for path, style in styles:
        for field, (label, why) in _TEXT_OPTIONS.items():
            if style.HasField(field) if field == "spacing" else getattr(style, field):
                out.append(f"{path}.{label}: {getattr(style, field)} → not rendered ({why})")
    if ec.speech_config.style:
        out.append(f"EditingConfig.SpeechConfig.Style: {ec.speech_config.style} → not rendered "
                   "(ICE's cloud speaking styles)")  # fmt: skip
    if music_style := ec.background_music_config.style:
        out.append(f"EditingConfig.BackgroundMusicConfig.Style: {music_style} → not used "
                   "(no music library: give BackgroundMusicArray)")  # fmt: skip
    stickers = [(f"InputConfig.StickerArray[{i}]", s) for i, s in enumerate(ic.sticker_array)]
    stickers += [("InputConfig.Sticker", ic.sticker)] if ic.HasField("sticker") else []
    for path, sticker in stickers:
        if sticker.HasField("dync_frames"):
            out.append(f"{path}.DyncFrames: {sticker.dync_frames} → drawn as a still picture")
    for label, value in (("StorageLocation", oc.storage_location), ("FileName", oc.file_name)):
        if value:
            out.append(
                f"OutputConfig.{label}: {value} → not used (outputs go to MediaURL or the output folder)"
            )
    for label, one, many in (("Title", ic.title, ic.title_array), ("SpeechText", ic.speech_text,
                             ic.speech_text_array), ("BackgroundMusic", ic.background_music,
                             ic.background_music_array)):  # fmt: skip
        if one and many:
            out.append(f"InputConfig.{label}: ignored ({label}Array is given)")
    if ic.HasField("sticker") and ic.sticker_array:
        out.append("InputConfig.Sticker: ignored (StickerArray is given)")
    return out


def _radius_px(bg: cfg.BackgroundImageConfig, requested_width: int) -> float:
    """Pixels (of the requested width) if > 1, else a fraction of the width, as ICE clients send it."""
    radius = bg.radius if bg.HasField("radius") else DEFAULT_BLUR_RADIUS
    return radius if radius > 1 else radius * requested_width


def _gain(conf: cfg.MediaConfig | cfg.SpeechConfig | cfg.BackgroundMusicConfig, default: float) -> float:
    """Volume, or its alias Gain, or the default."""
    if conf.HasField("volume"):
        return float(conf.volume)
    if conf.HasField("gain"):
        return float(conf.gain)
    return default
