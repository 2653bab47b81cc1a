"""Submit-time checks of narration: voices and languages from the catalogue, the SSML subset."""

from __future__ import annotations

import json

import pytest

from gateway.errors import InvalidArgumentError
from gateway.validate import Roots, validate_submit
from reelmill import voices
from reelmill.v1 import batch_service_pb2 as api

ROOTS = Roots(media=("/media",), output="/out")
Request = api.SubmitBatchMediaProducingJobRequest
TEXTS = ["回龙观盒马鲜生开业啦，盛大开业，买一送一", "北京盒马鲜生新店开业，全场八折"]


def submit(speech_config: dict[str, object], texts: list[str] = TEXTS) -> Request:
    input_config = {
        "MediaGroupArray": [{"GroupName": "g", "MediaArray": ["file:///media/a.mp4"]}],
        "SpeechTextArray": texts,
    }
    return api.SubmitBatchMediaProducingJobRequest(
        input_config_json=json.dumps(input_config, ensure_ascii=False),
        editing_config_json=json.dumps({"SpeechConfig": speech_config}),
        output_config_json=json.dumps({"Count": 2, "MediaURL": "file:///out/v_{index}.mp4"}),
    )


def violations(req: Request) -> dict[str, str]:
    with pytest.raises(InvalidArgumentError) as e:
        validate_submit(req, ROOTS)
    return {v.field: v.description for v in e.value.violations}


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"Voice": "zh-female-1"},
        {"Voice": "zh-female-1, zh-male-2", "SpeechLanguage": "zh"},
        {"Voice": "ZH-Male-1"},  # names and codes are case-insensitive
        {"Voice": "en-male-1"},  # the default zh does not bind a voice that was named
        {"Voice": "en-gb-female-1", "SpeechLanguage": "en-US"},  # same language, the voice's accent
        {"SpeechLanguage": "en_gb"},
        {"SpeechLanguage": "yue", "SpeechRate": 500, "Volume": 1.5},
    ],
)
def test_known_voices_and_languages_pass(config: dict[str, object]) -> None:
    job = validate_submit(submit(config), ROOTS)
    assert job.editing_config.speech_config.voice == config.get("Voice", "")


def test_an_unknown_voice_is_rejected_listing_the_available_ones() -> None:
    found = violations(submit({"Voice": "zh-female-1,zhitian_emo"}))
    message = found["EditingConfig.SpeechConfig.Voice"]
    assert "'zhitian_emo'" in message
    assert all(name in message for name in voices.voice_names())
    assert len(found) == 1


def test_an_unknown_language_is_rejected_listing_the_available_ones() -> None:
    found = violations(submit({"SpeechLanguage": "klingon"}))
    message = found["EditingConfig.SpeechConfig.SpeechLanguage"]
    assert "'klingon'" in message and all(code in message for code in voices.language_codes())


def test_a_voice_of_another_language_than_the_one_given_is_rejected() -> None:
    found = violations(submit({"Voice": "zh-female-1", "SpeechLanguage": "en"}))
    assert "speaks zh" in found["EditingConfig.SpeechConfig.Voice"]


def test_an_empty_name_in_the_voice_list_is_rejected() -> None:
    found = violations(submit({"Voice": "zh-female-1,,zh-male-1"}))
    assert "empty name" in found["EditingConfig.SpeechConfig.Voice"]


def test_every_catalogue_language_has_a_default_voice_of_its_own_language() -> None:
    for lang in voices.LANGUAGES:
        voice = voices.resolve_voice("", lang.code)
        assert voice.family == lang.family
    assert voices.resolve_voice("", "").name == "zh-female-1"


def test_well_formed_ssml_passes() -> None:
    texts = [
        '<speak>开业啦<break time="500ms"/>欢迎<sub alias="盒马鲜生">HEMA</sub>会员</speak>',
        "<s>First.</s><s>Second &amp; last.</s>",
        "a < b, and AT&T: plain text, taken verbatim",
    ]
    validate_submit(submit({}, texts), ROOTS)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('开业<break time="abc"/>啦', "needs time"),
        ('开业<break time="20s"/>啦', "longer than 10"),
        ("<s>开业啦", "not closed"),
        ("开业啦</s>", "closes nothing"),
        ("<prosody rate='fast'>开业啦</prosody>", "unsupported element <prosody>"),
        ("<sub>HEMA</sub>", "needs an alias"),
        ('<sub alias="x"><s>y</s></sub>', "only text"),
        ("<s>a <b</s>", "malformed tag"),
    ],
)
def test_malformed_ssml_is_rejected_never_read_out(text: str, why: str) -> None:
    found = violations(submit({}, [TEXTS[0], text]))
    assert why in found["InputConfig.SpeechTextArray[1]"]
    assert found["InputConfig.SpeechTextArray[1]"].startswith("malformed SSML")


def test_a_text_of_only_punctuation_and_breaks_has_nothing_to_speak() -> None:
    found = violations(submit({}, ['，。<break time="1s"/>！']))
    assert found == {"InputConfig.SpeechTextArray[0]": "has nothing to speak"}


def test_grouped_speech_texts_are_checked_too() -> None:
    req = submit({}, [])
    doc = json.loads(req.input_config_json)
    doc["MediaGroupArray"][0]["SpeechTextArray"] = ["好", "<p>段落</p>"]
    req.input_config_json = json.dumps(doc, ensure_ascii=False)
    assert "InputConfig.MediaGroupArray[0].SpeechTextArray[1]" in violations(req)
