"""The voices and speech languages reelmill offers, as plain data shared by the gateway and the worker.

The gateway rejects an unknown `SpeechConfig.Voice` or `SpeechLanguage` at submit (listing these);
the worker's speech module maps each voice to the engine that speaks it. Names are stable: a voice
may be added, never renamed.

A voice speaks one spoken language (its `family`). `SpeechLanguage` picks the default voice when no
`Voice` is given; when both are given they must be of the same family (`en-US` with `en-gb-male-1`
is fine: the voice's accent wins; `zh` with `en-male-1` is not).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LANGUAGE = "zh"


@dataclass(frozen=True)
class Voice:
    name: str  # reelmill's stable name, lower case
    family: str  # the spoken language: cmn (Mandarin), yue (Cantonese), en (English)
    accent: str  # the language tag it is best described by: zh, en-US, en-GB, yue
    gender: str  # female | male
    engine: str  # the speech engine that speaks it (worker/speech): espeak
    engine_voice: str  # the engine's own voice id; for espeak-ng, voice+variant


@dataclass(frozen=True)
class Language:
    code: str  # as given in SpeechLanguage (matched case-insensitively, '_' taken as '-')
    family: str
    default_voice: str
    description: str


VOICES: tuple[Voice, ...] = (
    Voice("zh-female-1", "cmn", "zh", "female", "espeak", "cmn+f2"),
    Voice("zh-female-2", "cmn", "zh", "female", "espeak", "cmn+f4"),
    Voice("zh-male-1", "cmn", "zh", "male", "espeak", "cmn"),
    Voice("zh-male-2", "cmn", "zh", "male", "espeak", "cmn+m3"),
    Voice("yue-female-1", "yue", "yue", "female", "espeak", "yue+f2"),
    Voice("yue-male-1", "yue", "yue", "male", "espeak", "yue"),
    Voice("en-female-1", "en", "en-US", "female", "espeak", "en-us+f2"),
    Voice("en-female-2", "en", "en-US", "female", "espeak", "en-us+f4"),
    Voice("en-male-1", "en", "en-US", "male", "espeak", "en-us"),
    Voice("en-male-2", "en", "en-US", "male", "espeak", "en-us+m3"),
    Voice("en-gb-female-1", "en", "en-GB", "female", "espeak", "en+f2"),
    Voice("en-gb-male-1", "en", "en-GB", "male", "espeak", "en"),
)

LANGUAGES: tuple[Language, ...] = (
    Language("zh", "cmn", "zh-female-1", "Mandarin Chinese (the default)"),
    Language("zh-CN", "cmn", "zh-female-1", "Mandarin Chinese"),
    Language("yue", "yue", "yue-female-1", "Cantonese"),
    Language("zh-HK", "yue", "yue-female-1", "Cantonese"),
    Language("en", "en", "en-female-1", "English (American voices by default)"),
    Language("en-US", "en", "en-female-1", "American English"),
    Language("en-GB", "en", "en-gb-female-1", "British English"),
)

_VOICES_BY_NAME = {v.name: v for v in VOICES}
_LANGUAGES_BY_CODE = {lang.code.lower(): lang for lang in LANGUAGES}


def voice_names() -> tuple[str, ...]:
    return tuple(v.name for v in VOICES)


def language_codes() -> tuple[str, ...]:
    return tuple(lang.code for lang in LANGUAGES)


def find_voice(name: str) -> Voice | None:
    return _VOICES_BY_NAME.get(name.strip().lower())


def find_language(code: str) -> Language | None:
    return _LANGUAGES_BY_CODE.get(code.strip().replace("_", "-").lower())


def voice_list(spec: str) -> list[str]:
    """The names of a `Voice` value: one name or a comma-separated list (blank items kept, as "")."""
    return [name.strip() for name in spec.split(",")] if spec.strip() else []


def resolve_voice(name: str, language: str = "") -> Voice:
    """The voice that speaks: `name` if given, else the default voice of `language` (default zh).
    KeyError names what is unknown."""
    if name.strip():
        voice = find_voice(name)
        if voice is None:
            raise KeyError(f"unknown voice {name!r}; available: {', '.join(voice_names())}")
        return voice
    lang = find_language(language or DEFAULT_LANGUAGE)
    if lang is None:
        raise KeyError(f"unknown language {language!r}; available: {', '.join(language_codes())}")
    return _VOICES_BY_NAME[lang.default_voice]
