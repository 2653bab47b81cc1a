"""Submit-time validation (spec §4–§6, §9): pure functions from a request to a job or violations.

Every problem found is reported, each with the ICE field path, so that a client fixes all at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import Message

from gateway import userdata
from gateway.errors import Violations
from gateway.shape import read_config
from gateway.templates import INPUT_FIELDS as TEMPLATE_INPUT_FIELDS
from gateway.templates import MAX_NAME_CHARS as MAX_TEMPLATE_NAME_CHARS
from gateway.templates import MAX_PER_JOB as MAX_TEMPLATES_PER_JOB
from gateway.templates import OUTPUT_EXCLUDED as TEMPLATE_OUTPUT_EXCLUDED
from gateway.templates import chosen as template_chosen
from gateway.templates import overlay
from reelmill import ice_names, jobspec, ssml, topology, voices
from reelmill import roots as roots_rule
from reelmill.catalog import (
    ALIGNMENT_MODES,
    BACKGROUND_TYPES,
    FILTERS,
    SPLIT_MODES,
    TEXT_ALIGNMENTS,
    TRANSITIONS,
    VFX_EFFECTS,
)
from reelmill.jobspec import SCRIPT
from reelmill.urlguard import Network, literal_problem
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import job_config_pb2 as cfg

MAX_GROUPS = 40
MAX_MEDIA_PER_GROUP = 200
MAX_POOL_MEDIA = 200
MAX_MEDIA_PER_JOB = 1000  # over all groups (40 groups of 200 would be 8000 fetches and probes)
MAX_TITLES, MAX_TITLE_CHARS = 50, 50
MAX_SPEECH_TEXTS, MAX_SPEECH_CHARS = 50, 1000
MAX_ASSETS = 50
MAX_GROUP_NAME_CHARS = 50
MAX_CLIENT_TOKEN_CHARS = 64
MAX_URL_CHARS = 2048
MAX_COUNT = 100
MAX_DURATION_S = 600.0
MAX_VOLUME = 10.0

# s3 media arrive with their fetcher; until then they are refused here rather than failing later.
MEDIA_SCHEMES = ("file", "http", "https")
# s3://bucket/key outputs go through the worker's configured endpoint (worker/s3.py).
OUTPUT_SCHEMES = ("file", "s3")
OUTPUT_EXTENSIONS = (".mp4",)
COLOR = re.compile(r"^#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$")
PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Roots:
    """Where URLs may point: file:// under the media roots (inputs) or the output root (outputs);
    network URLs only to public addresses or the allowed networks. And the largest Count."""

    media: tuple[str, ...]
    output: str  # the caller's own output folder (reelmill/roots.py tenant_output)
    networks: tuple[Network, ...] = ()
    max_count: int = MAX_COUNT
    s3_prefixes: tuple[str, ...] = ()  # where the caller's s3:// outputs may go; none: nowhere


@dataclass(frozen=True)
class ValidJob:
    job_type: str
    input_config: cfg.InputConfig  # as the request gave them (Get shows these)
    editing_config: cfg.EditingConfig
    output_config: cfg.OutputConfig
    count: int
    client_token: str | None
    user_data: str
    seed: int | None
    request_hash: str
    # With TemplateConfig: each template merged under the request's configs; a variant uses one.
    variants: tuple[Configs, ...] = ()
    ignored_fields: tuple[str, ...] = ()  # known to neither ICE's documents nor reelmill
    priority: int = topology.DEFAULT_PRIORITY  # within the tenant's queue (reelmill/topology.py)

    def output_url(self, index: int) -> str:
        return self.output_config.media_url.replace("{index}", str(index))

    @property
    def config_sets(self) -> tuple[Configs, ...]:
        """The configs variants render with: one per template, or the request's."""
        return self.variants or ((self.input_config, self.editing_config, self.output_config),)

    def config_set_of(self, index: int, seed: int) -> int:
        """Which of config_sets variant `index` renders with: a template drawn by the seed."""
        if not self.variants:
            return 0
        return template_chosen(seed, index, len(self.variants))

    def configs_for(self, index: int, seed: int) -> Configs:
        return self.config_sets[self.config_set_of(index, seed)]


Configs = tuple[cfg.InputConfig, cfg.EditingConfig, cfg.OutputConfig]


def validate_submit(req: api.SubmitBatchMediaProducingJobRequest, roots: Roots,
                    templates: Sequence[api.TemplateContent] = ()) -> ValidJob:  # fmt: skip
    """`templates` are the contents of req.template_config, fetched by the caller."""
    v = Violations()
    input_config = read_config(v, req, "input", "InputConfig", cfg.InputConfig)
    editing_config = read_config(v, req, "editing", "EditingConfig", cfg.EditingConfig)
    output_config = read_config(v, req, "output", "OutputConfig", cfg.OutputConfig)
    job_type, count = SCRIPT, 1
    if len(req.template_config) > MAX_TEMPLATES_PER_JOB:
        v.add("TemplateConfig", f"at most {MAX_TEMPLATES_PER_JOB} templates")
    variants: list[Configs] = []
    if input_config is not None and editing_config is not None and output_config is not None:
        empty = (cfg.InputConfig(), cfg.EditingConfig(), cfg.OutputConfig())
        bases = [(t.input_template_config, t.editing_template_config, t.output_template_config)
                 for t in templates] or [empty]  # fmt: skip
        for base_in, base_ed, base_out in bases:
            merged = (overlay(base_in, input_config), overlay(base_ed, editing_config),
                      overlay(base_out, output_config))  # fmt: skip
            before = len(v.items)
            job_type = _check_input(v, merged[0], roots)
            _check_editing(v, merged[1], merged[0])
            count = _check_output(v, merged[2], roots)
            variants.append(merged)
            if len(v.items) > before:
                break  # the same mistake would be reported once per template
    else:
        if input_config is not None:
            job_type = _check_input(v, input_config, roots)
        if editing_config is not None:
            _check_editing(v, editing_config, input_config or cfg.InputConfig())
        if output_config is not None:
            count = _check_output(v, output_config, roots)

    token = req.client_token
    if len(token) > MAX_CLIENT_TOKEN_CHARS or not PRINTABLE_ASCII.match(token):
        v.add("ClientToken", f"must be at most {MAX_CLIENT_TOKEN_CHARS} printable ASCII characters")
    _check_user_data(v, req.user_data, roots)
    if req.priority and req.priority not in topology.PRIORITIES:
        v.add("Priority", f"must be {topology.PRIORITIES[0]} (lowest) to {topology.PRIORITIES[-1]} (highest)")
    v.raise_any()
    assert input_config is not None and editing_config is not None and output_config is not None

    seed = req.seed if req.HasField("seed") else None
    return ValidJob(
        job_type=job_type, input_config=input_config, editing_config=editing_config,
        output_config=output_config, count=count, client_token=token or None, user_data=req.user_data,
        seed=seed, variants=tuple(variants) if templates else (), ignored_fields=tuple(v.ignored),
        priority=req.priority or topology.DEFAULT_PRIORITY,
        request_hash=_request_hash(input_config, editing_config, output_config, req.user_data, seed,
                                   list(req.template_config)),
    )  # fmt: skip


MEDIA_TYPES = ("video", "image", "audio")
MAX_MEDIA_TITLE_CHARS = 128


def validate_media(req: api.RegisterMediaRequest, roots: Roots) -> None:
    """A media to register: a URL a document could name, and a known type if one is given."""
    v = Violations()
    _check_media_url(v, "InputURL", req.input_url, roots)
    if req.media_type and req.media_type not in MEDIA_TYPES:
        v.add("MediaType", f"must be one of {', '.join(MEDIA_TYPES)}")
    if len(req.title) > MAX_MEDIA_TITLE_CHARS:
        v.add("Title", f"at most {MAX_MEDIA_TITLE_CHARS} characters")
    v.raise_any()


def validate_template(req: api.AddTemplateRequest, roots: Roots) -> api.TemplateContent:
    """A template's content: only the parts a template may set, each as valid as in a submit."""
    v = Violations()
    if not req.name.strip() or len(req.name) > MAX_TEMPLATE_NAME_CHARS:
        v.add("Name", f"required, at most {MAX_TEMPLATE_NAME_CHARS} characters")
    content = read_config(v, req, "content", "Config", api.TemplateContent)
    if content is not None:
        ic, ec, oc = (
            content.input_template_config,
            content.editing_template_config,
            content.output_template_config,
        )
        for field, _ in ic.ListFields():
            if field.name not in TEMPLATE_INPUT_FIELDS:
                v.add(
                    f"Config.InputTemplateConfig.{field.json_name}",
                    "a template gives only StickerArray, BackgroundMusicArray, BackgroundImageArray",
                )
        for field, _ in oc.ListFields():
            if field.name in TEMPLATE_OUTPUT_EXCLUDED:
                v.add(
                    f"Config.OutputTemplateConfig.{field.json_name}", "belongs to the submit, not a template"
                )
        if not v.items:
            _check_assets(v, "Config.InputTemplateConfig", ic, roots)
            sub = Violations()
            _check_editing(sub, ec, ic)
            _check_output(sub, oc, roots)
            for f in sub.items:  # reported where the template holds them
                v.add("Config." + f.field.replace("Config.", "TemplateConfig.", 1), f.description)
    v.raise_any()
    assert content is not None
    return content


def _check_input(v: Violations, ic: cfg.InputConfig, roots: Roots) -> str:
    p = "InputConfig"
    if ic.media_group_array:
        if len(ic.media_group_array) > MAX_GROUPS:
            v.add(f"{p}.MediaGroupArray", f"at most {MAX_GROUPS} groups, got {len(ic.media_group_array)}")
        names: set[str] = set()
        grouped_speech = False
        for i, g in enumerate(ic.media_group_array):
            gp = f"{p}.MediaGroupArray[{i}]"
            if not g.group_name:
                v.add(f"{gp}.GroupName", "required")
            elif len(g.group_name) > MAX_GROUP_NAME_CHARS:
                v.add(f"{gp}.GroupName", f"at most {MAX_GROUP_NAME_CHARS} characters")
            elif g.group_name in names:
                v.add(f"{gp}.GroupName", f"duplicate group name {g.group_name!r}")
            names.add(g.group_name)
            if not g.media_array:
                v.add(f"{gp}.MediaArray", "a group needs at least one media")
            elif len(g.media_array) > MAX_MEDIA_PER_GROUP:
                v.add(f"{gp}.MediaArray", f"at most {MAX_MEDIA_PER_GROUP} media per group")
            for j, url in enumerate(g.media_array):
                _check_media_url(v, f"{gp}.MediaArray[{j}]", url, roots)
            _check_texts(v, f"{gp}.SpeechTextArray", g.speech_text_array, MAX_SPEECH_TEXTS, MAX_SPEECH_CHARS)
            _check_speech_texts(v, f"{gp}.SpeechTextArray", g.speech_text_array)
            grouped_speech = grouped_speech or bool(g.speech_text_array)
            if g.HasField("duration") and not 0 < g.duration <= MAX_DURATION_S:
                v.add(f"{gp}.Duration", f"must be in (0, {MAX_DURATION_S:g}] seconds")
            if g.HasField("volume"):
                _check_volume(v, f"{gp}.Volume", g.volume)
            if g.split_mode and g.split_mode not in SPLIT_MODES:
                v.add(f"{gp}.SplitMode", f"must be one of {', '.join(SPLIT_MODES)}")
        total = sum(len(g.media_array) for g in ic.media_group_array)
        if total > MAX_MEDIA_PER_JOB:  # each is fetched and probed: the job's cost grows with them
            v.add(
                f"{p}.MediaGroupArray",
                f"at most {MAX_MEDIA_PER_JOB} media in all groups together, got {total}",
            )
        if grouped_speech and ic.speech_text_array:
            v.add(f"{p}.SpeechTextArray", "global and grouped narration cannot both be set")
        if grouped_speech and ic.speech_text:
            v.add(f"{p}.SpeechText", "global and grouped narration cannot both be set")
    elif ic.media_array:
        if len(ic.media_array) > MAX_POOL_MEDIA:
            v.add(f"{p}.MediaArray", f"at most {MAX_POOL_MEDIA} media")
        for j, url in enumerate(ic.media_array):
            _check_media_url(v, f"{p}.MediaArray[{j}]", url, roots)
    else:
        v.add(p, "needs MediaGroupArray (Script) or MediaArray (Smart_Mix)")
    _check_texts(v, f"{p}.TitleArray", ic.title_array, MAX_TITLES, MAX_TITLE_CHARS)
    _check_texts(v, f"{p}.SpeechTextArray", ic.speech_text_array, MAX_SPEECH_TEXTS, MAX_SPEECH_CHARS)
    _check_speech_texts(v, f"{p}.SpeechTextArray", ic.speech_text_array)
    # ICE's singular forms, checked as one-item arrays (each given alone, "" means absent)
    if ic.title:
        _check_text(v, f"{p}.Title", ic.title, MAX_TITLE_CHARS)
    if ic.speech_text:
        _check_text(v, f"{p}.SpeechText", ic.speech_text, MAX_SPEECH_CHARS)
        _check_speech_text(v, f"{p}.SpeechText", ic.speech_text)
    levels: set[int] = set()
    for i, sh in enumerate(ic.sub_heading_array):
        sp = f"{p}.SubHeadingArray[{i}]"
        if not 1 <= sh.level <= 5:
            v.add(f"{sp}.Level", "must be 1–5")
        elif sh.level in levels:
            v.add(f"{sp}.Level", f"level {sh.level} appears twice")
        levels.add(sh.level)
        _check_texts(v, f"{sp}.TitleArray", sh.title_array, MAX_TITLES, MAX_TITLE_CHARS)
    _check_assets(v, p, ic, roots)
    return jobspec.job_type_of(ic)


def _check_assets(v: Violations, p: str, ic: cfg.InputConfig, roots: Roots) -> None:
    """Music, background images and stickers (what templates may give too)."""
    for name, items in (("BackgroundMusicArray", ic.background_music_array),
                        ("BackgroundImageArray", ic.background_image_array)):  # fmt: skip
        if len(items) > MAX_ASSETS:
            v.add(f"{p}.{name}", f"at most {MAX_ASSETS} items")
        for j, url in enumerate(items):
            _check_media_url(v, f"{p}.{name}[{j}]", url, roots)
    if ic.background_music:
        _check_media_url(v, f"{p}.BackgroundMusic", ic.background_music, roots)
    if len(ic.sticker_array) > MAX_ASSETS:
        v.add(f"{p}.StickerArray", f"at most {MAX_ASSETS} items")
    for j, sticker in enumerate(ic.sticker_array):
        _check_sticker(v, f"{p}.StickerArray[{j}]", sticker, roots)
    if ic.HasField("sticker"):
        _check_sticker(v, f"{p}.Sticker", ic.sticker, roots)


def _check_sticker(v: Violations, sp: str, sticker: cfg.Sticker, roots: Roots) -> None:
    if sticker.media_id:
        v.add(
            f"{sp}.MediaId",
            "not a MediaId of this tenant's library (RegisterMediaInfo first)",
        )
    else:
        _check_media_url(v, f"{sp}.MediaURL", sticker.media_url, roots)
    if sticker.HasField("opacity") and not 0 <= sticker.opacity <= 1:
        v.add(f"{sp}.Opacity", "must be in [0, 1]")
    for fname in ("x", "y", "width", "height"):
        if sticker.HasField(fname) and not _place_ok(getattr(sticker, fname)):
            v.add(f"{sp}.{fname.capitalize()}", PLACE_RULE)
    if sticker.HasField("dync_frames") and not 0 <= sticker.dync_frames <= 100:
        v.add(f"{sp}.DyncFrames", "must be in [0, 100]")


def _check_editing(v: Violations, ec: cfg.EditingConfig, ic: cfg.InputConfig) -> None:
    p = "EditingConfig"
    _check_gain(v, f"{p}.MediaConfig", ec.media_config)
    _check_gain(v, f"{p}.SpeechConfig", ec.speech_config)
    _check_gain(v, f"{p}.BackgroundMusicConfig", ec.background_music_config)
    groups = {g.group_name: g for g in ic.media_group_array}
    for i, meta in enumerate(ec.media_config.media_meta_data_array):
        mp = f"{p}.MediaConfig.MediaMetaDataArray[{i}]"
        if not meta.media:
            v.add(f"{mp}.Media", "required")
        if meta.group_name and not ic.media_group_array:
            v.add(f"{mp}.GroupName", "only in Script mode (MediaGroupArray), as in ICE")
        elif meta.group_name and meta.group_name not in groups:
            v.add(f"{mp}.GroupName", f"no group {meta.group_name!r}; groups: {', '.join(groups)}")
        elif meta.group_name and meta.media and meta.media not in groups[meta.group_name].media_array:
            v.add(f"{mp}.Media", f"not in the MediaArray of group {meta.group_name!r}")
        for j, r in enumerate(meta.time_range_list):
            start, end = getattr(r, "in"), r.out
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                v.add(f"{mp}.TimeRangeList[{j}]", "needs 0 <= In < Out, both finite numbers of seconds")
    sc = ec.speech_config
    if sc.HasField("speech_rate") and not -500 <= sc.speech_rate <= 500:
        v.add(f"{p}.SpeechConfig.SpeechRate", "must be in [-500, 500]")
    _check_voice(v, f"{p}.SpeechConfig", sc)
    _check_style(v, f"{p}.TitleConfig", ec.title_config)
    _check_style(v, f"{p}.SpeechConfig.AsrConfig", sc.asr_config)
    for level, style in ec.sub_heading_config.items():
        if not 1 <= level <= 5:
            v.add(f"{p}.SubHeadingConfig.{level}", "level must be 1–5")
        _check_style(v, f"{p}.SubHeadingConfig.{level}", style)
    pc = ec.process_config
    pp = f"{p}.ProcessConfig"
    for fname, label in (("single_shot_duration", "SingleShotDuration"), ("image_duration", "ImageDuration")):
        if pc.HasField(fname) and not 0 < getattr(pc, fname) <= MAX_DURATION_S:
            v.add(f"{pp}.{label}", f"must be in (0, {MAX_DURATION_S:g}] seconds")
    if pc.HasField("transition_duration") and not 0 < pc.transition_duration <= 5:
        v.add(f"{pp}.TransitionDuration", "must be in (0, 5] seconds")
    if pc.alignment_mode and pc.alignment_mode not in ALIGNMENT_MODES:
        v.add(f"{pp}.AlignmentMode", f"must be one of {', '.join(ALIGNMENT_MODES)}")
    if pc.HasField("vfx_effect_probability") and not 0 <= pc.vfx_effect_probability <= 1:
        v.add(f"{pp}.VfxEffectProbability", "must be in [0, 1]")
    _check_names(v, f"{pp}.TransitionList", pc.transition_list, ice_names.transition, TRANSITIONS)
    for effects, label in ((pc.vfx_first_clip_effect_list, "VfxFirstClipEffectList"),
                           (pc.vfx_not_first_clip_effect_list, "VfxNotFirstClipEffectList")):  # fmt: skip
        _check_names(v, f"{pp}.{label}", effects, ice_names.effect, VFX_EFFECTS)
    _check_names(v, f"{pp}.FilterList", pc.filter_list, ice_names.colour_filter, FILTERS)
    bg = ec.background_image_config
    bp = f"{p}.BackgroundImageConfig"
    if bg.sub_type and bg.sub_type not in BACKGROUND_TYPES:
        v.add(f"{bp}.SubType", f"must be one of {', '.join(BACKGROUND_TYPES)}")
    if bg.type and bg.type.strip().lower() not in jobspec.ICE_BACKGROUND_TYPES:
        v.add(
            f"{bp}.Type",
            f"must be one of {', '.join(jobspec.ICE_BACKGROUND_TYPES)} (ICE's names for SubType)",
        )
    if bg.color and not COLOR.match(bg.color):
        v.add(f"{bp}.Color", "must be #RRGGBB or #RRGGBBAA")
    if jobspec.background_type(bg, ic) == "Image" and not ic.background_image_array:
        v.add(
            f"{bp}.SubType" if bg.sub_type else f"{bp}.Type", "Image needs InputConfig.BackgroundImageArray"
        )
    if bg.HasField("radius") and not 0 < bg.radius <= 200:
        v.add(f"{bp}.Radius", "must be in (0, 200]")


def _check_output(v: Violations, oc: cfg.OutputConfig, roots: Roots) -> int:
    p = "OutputConfig"
    count = oc.count if oc.HasField("count") else 1
    if not 1 <= count <= min(roots.max_count, MAX_COUNT):
        v.add(f"{p}.Count", f"must be 1–{min(roots.max_count, MAX_COUNT)}, got {count}")
    if oc.media_url:
        _check_output_url(v, f"{p}.MediaURL", oc.media_url, count, roots)
    for fname, label in (("max_duration", "MaxDuration"), ("fixed_duration", "FixedDuration")):
        if oc.HasField(fname) and not 0 < getattr(oc, fname) <= MAX_DURATION_S:
            v.add(f"{p}.{label}", f"must be in (0, {MAX_DURATION_S:g}] seconds")
    for fname, label in (("width", "Width"), ("height", "Height")):
        if oc.HasField(fname):
            value = getattr(oc, fname)
            if not _within(value, jobspec.SIZE_RANGE) or value % 2:
                v.add(f"{p}.{label}", f"must be an even number in {_span(jobspec.SIZE_RANGE)}, got {value}")
    vid = oc.video
    if vid.HasField("crf") and not _within(vid.crf, jobspec.CRF_RANGE):
        v.add(f"{p}.Video.Crf", f"must be {_span(jobspec.CRF_RANGE)}, got {vid.crf}")
    if vid.HasField("fps") and not _within(vid.fps, jobspec.FPS_RANGE):
        v.add(f"{p}.Video.Fps", f"must be {_span(jobspec.FPS_RANGE)}, got {vid.fps:g}")
    if vid.codec and vid.codec not in jobspec.CODECS:
        v.add(f"{p}.Video.Codec", f"must be one of {', '.join(jobspec.CODECS)}")
    if vid.preset and vid.preset not in jobspec.PRESETS:
        v.add(f"{p}.Video.Preset", f"must be one of {', '.join(jobspec.PRESETS)}")
    if vid.HasField("bitrate") and not _within(vid.bitrate, jobspec.VIDEO_BITRATE_KBPS_RANGE):
        v.add(f"{p}.Video.Bitrate", f"must be {_span(jobspec.VIDEO_BITRATE_KBPS_RANGE)} kbps")
    if vid.HasField("gop") and not _within(vid.gop, jobspec.GOP_RANGE):
        v.add(f"{p}.Video.Gop", f"must be {_span(jobspec.GOP_RANGE)} frames")
    if oc.audio.HasField("bitrate") and not _within(oc.audio.bitrate, jobspec.AUDIO_BITRATE_KBPS_RANGE):
        v.add(f"{p}.Audio.Bitrate", f"must be {_span(jobspec.AUDIO_BITRATE_KBPS_RANGE)} kbps")
    if oc.audio.HasField("loudness") and not _within(oc.audio.loudness, jobspec.LOUDNESS_LUFS_RANGE):
        v.add(f"{p}.Audio.Loudness", f"must be {_span(jobspec.LOUDNESS_LUFS_RANGE)} LUFS")
    if oc.audio.HasField("true_peak") and not _within(oc.audio.true_peak, jobspec.TRUE_PEAK_DB_RANGE):
        v.add(f"{p}.Audio.TruePeak", f"must be {_span(jobspec.TRUE_PEAK_DB_RANGE)} dBTP")
    return count


# Positions and sizes: a fraction of the canvas (<= 1) or pixels of the requested size (<= its largest).
PLACE_RULE = f"must be a finite number from 0 to {jobspec.SIZE_RANGE[1]} (<= 1: a fraction; else pixels)"


def _place_ok(value: float) -> bool:
    return math.isfinite(value) and 0 <= value <= jobspec.SIZE_RANGE[1]


def _within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _span(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g}–{bounds[1]:g}"


def _check_texts(v: Violations, path: str, texts: Iterable[str], max_items: int, max_chars: int) -> None:
    items = list(texts)
    if len(items) > max_items:
        v.add(path, f"at most {max_items} items, got {len(items)}")
    for i, t in enumerate(items):
        _check_text(v, f"{path}[{i}]", t, max_chars)


def _check_text(v: Violations, path: str, text: str, max_chars: int) -> None:
    if not text.strip():
        v.add(path, "must not be empty")
    elif len(text) > max_chars:
        v.add(path, f"at most {max_chars} characters, got {len(text)}")


def _check_speech_texts(v: Violations, path: str, texts: Iterable[str]) -> None:
    for i, text in enumerate(texts):
        _check_speech_text(v, f"{path}[{i}]", text)


def _check_speech_text(v: Violations, path: str, text: str) -> None:
    """The SSML subset (reelmill/ssml.py): malformed markup is rejected, never read out tag by tag."""
    if not text.strip():
        return  # reported by _check_text
    try:
        runs = ssml.parse(text)
    except ssml.SsmlError as e:
        v.add(path, f"malformed SSML: {e}")
        return
    if not ssml.speaks(runs):
        v.add(path, "has nothing to speak")


def _check_voice(v: Violations, path: str, sc: cfg.SpeechConfig) -> None:
    """Voice: known names (a comma list is picked from per variant); SpeechLanguage: a known code; when
    both are given, each voice speaks that language."""
    language = None
    if sc.speech_language:
        language = voices.find_language(sc.speech_language)
        if language is None:
            v.add(f"{path}.SpeechLanguage", f"unknown language {sc.speech_language!r}; "
                                            f"available: {', '.join(voices.language_codes())}")  # fmt: skip
    for name in voices.voice_list(sc.voice):
        voice = voices.find_voice(ice_names.voice(name) or "")  # reelmill's, or ICE's mapped to one
        if not name:
            v.add(f"{path}.Voice", "has an empty name in its comma-separated list")
        elif voice is None:
            v.add(f"{path}.Voice", f"unknown voice {name!r}; available: {', '.join(voices.voice_names())}")
        elif language is not None and voice.family != language.family:
            v.add(f"{path}.Voice", f"voice {name!r} speaks {voice.accent}, not {sc.speech_language}")


def _check_names(v: Violations, path: str, names: Iterable[str], ours: Callable[[str], str | None],
                 known: tuple[str, ...]) -> None:  # fmt: skip
    """Each name reelmill's own or ICE's (reelmill/ice_names.py maps it to the nearest of ours)."""
    for i, name in enumerate(names):
        if ours(name) is None:
            v.add(f"{path}[{i}]", f"unknown name {name!r}; available: {', '.join(known)} (or ICE's names)")


def _check_volume(v: Violations, path: str, value: float) -> None:
    if not 0 <= value <= MAX_VOLUME:
        v.add(path, f"must be in [0, {MAX_VOLUME:g}], got {value:g}")


def _check_gain(v: Violations, path: str, conf: Any) -> None:
    if conf.HasField("volume") and conf.HasField("gain"):
        v.add(f"{path}.Gain", "Gain is an alias of Volume: give one of them")
    for fname, label in (("volume", "Volume"), ("gain", "Gain")):
        if conf.HasField(fname):
            _check_volume(v, f"{path}.{label}", getattr(conf, fname))


def _check_style(v: Violations, path: str, style: cfg.TextStyle) -> None:
    if style.HasField("font_size") and not 8 <= style.font_size <= 400:
        v.add(f"{path}.FontSize", "must be 8–400")
    for fname, label in (("font_color", "FontColor"), ("outline_colour", "OutlineColour"),
                         ("back_colour", "BackColour")):  # fmt: skip
        value = getattr(style, fname)
        if value and not COLOR.match(value):
            v.add(f"{path}.{label}", "must be #RRGGBB or #RRGGBBAA")
    if style.HasField("outline") and not 0 <= style.outline <= 50:
        v.add(f"{path}.Outline", "must be 0–50")
    if style.HasField("shadow") and not 0 <= style.shadow <= 50:
        v.add(f"{path}.Shadow", "must be 0–50")
    if style.alignment and style.alignment not in TEXT_ALIGNMENTS:
        v.add(f"{path}.Alignment", f"must be one of {', '.join(TEXT_ALIGNMENTS)}")
    for fname, label in (("x", "X"), ("y", "Y"), ("text_width", "TextWidth")):
        if style.HasField(fname) and not _place_ok(getattr(style, fname)):
            v.add(f"{path}.{label}", PLACE_RULE)


def _check_media_url(v: Violations, path: str, url: str, roots: Roots) -> None:
    problem = _url_problem(url, MEDIA_SCHEMES, roots.media)
    if problem is None and urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname:
        # names are resolved and checked when fetched
        problem = literal_problem(urlsplit(url).hostname or "", roots.networks)
    if problem:
        v.add(path, problem)


def _check_output_url(v: Violations, path: str, url: str, count: int, roots: Roots) -> None:
    problem = _url_problem(url, OUTPUT_SCHEMES, (roots.output,))
    if problem is None and urlsplit(url).scheme == "s3":
        problem = _s3_output_problem(url, roots.s3_prefixes)
    if problem:
        v.add(path, problem)
        return
    # in the path: {index} only in the query or fragment would write every variant to one file
    if count > 1 and "{index}" not in urlsplit(url).path:
        v.add(path, "needs {index} when Count > 1, or every variant would overwrite the same file")
    if not urlsplit(url).path.lower().endswith(OUTPUT_EXTENSIONS):
        v.add(path, f"the file name must end with {', '.join(OUTPUT_EXTENSIONS)}")


def _s3_output_problem(url: str, prefixes: tuple[str, ...]) -> str | None:
    """Tenants' s3:// outputs go only under their own prefixes: the workers' credentials reach every
    tenant's buckets, so the gateway is where one tenant is kept out of another's (issue 13)."""
    if roots_rule.under_s3_prefix(url, prefixes):
        return None
    if prefixes:
        return f"s3:// outputs of this tenant go under {' or '.join(prefixes)}"
    return ("no s3:// place is configured for this tenant's outputs (REELMILL_OUTPUT_S3_PREFIXES, or "
            "output_s3_prefixes in its keys-file entry)")  # fmt: skip


def _url_problem(url: str, schemes: tuple[str, ...], file_roots: tuple[str, ...]) -> str | None:
    if not url:
        return "required"
    if len(url) > MAX_URL_CHARS:
        return f"at most {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is no number raises here, not later in a worker
    except ValueError as e:  # "http://[::1" and the like
        return f"not a URL: {e}"
    if parts.scheme not in schemes:
        return f"scheme must be one of {', '.join(s + '://' for s in schemes)}"
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return "file:// URLs name a local path (file:///path)"
        raw = roots_rule.file_path(url)
        if "\x00" in raw or ".." in raw.split("/"):
            return "file path must not contain '..' or NUL"
        if not roots_rule.is_under(roots_rule.normalised(raw), file_roots):
            return f"file path must be under {' or '.join(r for r in file_roots if r) or 'a configured root'}"
    elif not parts.netloc:
        return "URL needs a host (or bucket)"
    return None


def _check_user_data(v: Violations, user_data: str, roots: Roots) -> None:
    try:
        doc = userdata.parse(user_data)
    except userdata.UserDataError as e:
        v.add("UserData", str(e))
        return
    if "NotifyAddress" in doc:
        address = doc["NotifyAddress"]
        problem = "must be a string" if not isinstance(address, str) else notify_problem(address, roots)
        if problem and isinstance(address, str) and userdata.MNS_QUEUE.match(address):
            problem = None  # ICE's MNS queue: accepted, not delivered (Get's Extend.Substitutions says so)
        if problem:
            v.add("UserData.NotifyAddress", problem)


def notify_problem(url: str, roots: Roots) -> str | None:
    """What is wrong with a callback address, as far as can be told without DNS."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError as e:
        return f"not a URL: {e}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    return literal_problem(parts.hostname, roots.networks)


def _request_hash(*parts: Any) -> str:
    canon = [
        json_format.MessageToDict(p, preserving_proto_field_name=True) if isinstance(p, Message) else p
        for p in parts
    ]
    return hashlib.sha256(json.dumps(canon, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
