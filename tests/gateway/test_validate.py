"""Submit-time validation as the pure function it is: every bad request of the table names its field and
says why, without a gateway, a database or a bus (tests/test_api.py sends a few of them over the wire)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.client import submit_request
from conftest import small_job_doc
from gateway.errors import InvalidArgumentError
from gateway.validate import Roots, ValidJob, validate_submit

MEDIA = Path("/srv/media")
ROOTS = Roots(media=(str(MEDIA),), output="/srv/outputs")


def job_doc(media: Path, count: int = 1, **output: Any) -> dict[str, Any]:
    return small_job_doc(media, count, **output)


def validate(doc: dict[str, Any]) -> ValidJob:
    return validate_submit(submit_request(doc, "/"), ROOTS)


def violations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgumentError) as info:
        validate(doc)
    return [(v.field, v.description) for v in info.value.violations]


@dataclass(frozen=True)
class Bad:
    """A change that makes a valid job invalid, and the violation it must cause."""

    id: str
    change: Callable[[dict[str, Any], Path], None]
    field: str
    says: str  # a part of the description


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    """Sets doc[a][b][0][c] = value for path "a.b.0.c" ({media} in a string value is the media folder)."""

    def change(doc: dict[str, Any], media: Path) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
        v = value.replace("{media}", str(media)) if isinstance(value, str) else value
        node[int(last) if last.isdigit() else last] = v

    return change


def _malformed_input(doc: dict[str, Any], media: Path) -> None:
    # ICE's own example: no comma between the two speech texts. Sent as the JSON string a client wrote.
    group = json.dumps({"GroupName": "g", "MediaArray": [f"file://{media}/a.mp4"]})
    doc["InputConfig"] = f'{{"MediaGroupArray": [{group}], "SpeechTextArray": ["first text" "second text"]}}'


def _duplicate_group(doc: dict[str, Any], media: Path) -> None:
    doc["InputConfig"]["MediaGroupArray"][1]["GroupName"] = "opening"


def _both_narrations(doc: dict[str, Any], media: Path) -> None:
    doc["InputConfig"]["SpeechTextArray"] = ["global text"]
    doc["InputConfig"]["MediaGroupArray"][0]["SpeechTextArray"] = ["group text"]


MEDIA0 = "InputConfig.MediaGroupArray[0].MediaArray[0]"
BAD_REQUESTS = [
    Bad("malformed-json-string", _malformed_input, "InputConfig", "malformed JSON"),
    Bad("config-not-an-object", _set("OutputConfig", "[1, 2]"), "OutputConfig", "JSON object"),
    Bad("no-media-at-all", _set("InputConfig", {}), "InputConfig", "MediaGroupArray"),
    Bad("count-0", _set("OutputConfig.Count", 0), "OutputConfig.Count", "1–100"),
    Bad("count-101", _set("OutputConfig.Count", 101), "OutputConfig.Count", "1–100"),
    Bad("count-3-no-index", lambda d, m: d["OutputConfig"].update(
        Count=3, MediaURL=f"file://{m.parent / 'outputs'}/same.mp4"), "OutputConfig.MediaURL", "{index}"),
    Bad("width-odd", _set("OutputConfig.Width", 161), "OutputConfig.Width", "even"),
    Bad("height-too-small", _set("OutputConfig.Height", 32), "OutputConfig.Height", "64–4096"),
    Bad("crf-60", _set("OutputConfig.Video.Crf", 60), "OutputConfig.Video.Crf", "0–51"),
    Bad("index-in-query", lambda doc, media: doc["OutputConfig"].update(
        {"Count": 2, "MediaURL": "file:///srv/outputs/v.mp4?n={index}"}),
        "OutputConfig.MediaURL", "needs {index}"),
    Bad("sticker-huge", _set("InputConfig.StickerArray", [{"MediaURL": "file://{media}/a.png",
                                                            "Width": 8000}]),
        "InputConfig.StickerArray[0].Width", "finite"),
    Bad("loudness-0", _set("OutputConfig.Audio.Loudness", 0), "OutputConfig.Audio.Loudness", "-40–-5 LUFS"),
    Bad("true-peak-3", _set("OutputConfig.Audio.TruePeak", 3), "OutputConfig.Audio.TruePeak", "-9–0 dBTP"),
    Bad("preset-unknown", _set("OutputConfig.Video.Preset", "warp"), "OutputConfig.Video.Preset", "medium"),
    Bad("media-outside-roots", _set("InputConfig.MediaGroupArray.0.MediaArray.0", "file:///usr/share/x.mp4"),
        MEDIA0, "under"),
    Bad("media-dot-dot", _set("InputConfig.MediaGroupArray.0.MediaArray.0", "file://{media}/../data/x.mp4"),
        MEDIA0, ".."),
    Bad("media-loopback", _set("InputConfig.MediaGroupArray.0.MediaArray.0", "http://127.0.0.1/a.mp4"),
        MEDIA0, "not a public address"),
    Bad("media-metadata", _set("InputConfig.MediaGroupArray.0.MediaArray.0", "http://169.254.169.254/a"),
        MEDIA0, "not a public address"),
    Bad("media-local-name", _set("InputConfig.MediaGroupArray.0.MediaArray.0", "https://localhost/a.mp4"),
        MEDIA0, "local name"),
    Bad("media-s3", _set("InputConfig.MediaGroupArray.0.MediaArray.0", "s3://bucket/a.mp4"),
        MEDIA0, "scheme"),
    Bad("media-second-group", _set("InputConfig.MediaGroupArray.1.MediaArray.0", "ftp://host/a.png"),
        "InputConfig.MediaGroupArray[1].MediaArray[0]", "scheme"),
    Bad("duplicate-group-name", _duplicate_group, "InputConfig.MediaGroupArray[1].GroupName", "duplicate"),
    Bad("global-and-grouped-speech", _both_narrations, "InputConfig.SpeechTextArray", "both"),
    Bad("unknown-transition", _set("EditingConfig.ProcessConfig.TransitionList", ["fade", "whirlpool"]),
        "EditingConfig.ProcessConfig.TransitionList[1]", "fade"),
    Bad("media-search-input", _set("InputConfig.MediaSearchInput", {"Query": "cats"}),
        "InputConfig.MediaSearchInput", "not supported"),
    Bad("user-data-600-bytes", _set("UserData", json.dumps({"k": "视" * 200}, ensure_ascii=False)),
        "UserData", "512 bytes"),
    Bad("user-data-not-object", _set("UserData", "[1, 2]"), "UserData", "JSON object"),
    Bad("client-token-65", _set("ClientToken", "t" * 65), "ClientToken", "64"),
    Bad("client-token-not-ascii", _set("ClientToken", "tökén"), "ClientToken", "ASCII"),
    Bad("group-volume-11", _set("InputConfig.MediaGroupArray.0.Volume", 11),
        "InputConfig.MediaGroupArray[0].Volume", "[0, 10]"),
    Bad("volume-numeric-string-11", _set("EditingConfig.MediaConfig.Volume", "11"),
        "EditingConfig.MediaConfig.Volume", "[0, 10]"),
    Bad("wrong-type", _set("OutputConfig.Video.Crf", "high"), "OutputConfig.Video.Crf", "whole number"),
    Bad("group-duration-negative", _set("InputConfig.MediaGroupArray.0.Duration", -1),
        "InputConfig.MediaGroupArray[0].Duration", "seconds"),
    # ICE's fields: checked like their reelmill twins, refused only where ICE refuses or reelmill cannot
    Bad("title-51", _set("InputConfig.Title", "t" * 51), "InputConfig.Title", "50 characters"),
    Bad("speech-text-and-grouped", lambda d, m: (d["InputConfig"].update(SpeechText="global"),
        d["InputConfig"]["MediaGroupArray"][0].update(SpeechTextArray=["grouped"])),
        "InputConfig.SpeechText", "both"),
    Bad("speech-text-bad-ssml", _set("InputConfig.SpeechText", "<speak>"), "InputConfig.SpeechText", "SSML"),
    Bad("sticker-media-id", _set("InputConfig.Sticker", {"MediaId": "****9d46****"}),
        "InputConfig.Sticker.MediaId", "RegisterMediaInfo"),
    Bad("sticker-dync-frames", _set("InputConfig.StickerArray", [{"MediaURL": "file://{media}/a.png",
        "DyncFrames": 101}]), "InputConfig.StickerArray[0].DyncFrames", "[0, 100]"),
    Bad("music-outside-roots", _set("InputConfig.BackgroundMusic", "file:///etc/m.m4a"),
        "InputConfig.BackgroundMusic", "under"),
    Bad("meta-unknown-group", _set("EditingConfig.MediaConfig.MediaMetaDataArray",
        [{"Media": "file://{media}/a.mp4", "GroupName": "middle"}]),
        "EditingConfig.MediaConfig.MediaMetaDataArray[0].GroupName", "no group 'middle'"),
    Bad("meta-media-not-in-group", _set("EditingConfig.MediaConfig.MediaMetaDataArray",
        [{"Media": "file://{media}/a.mp4", "GroupName": "closing"}]),
        "EditingConfig.MediaConfig.MediaMetaDataArray[0].Media", "not in the MediaArray of group 'closing'"),
    Bad("background-type-unknown", _set("EditingConfig.BackgroundImageConfig.Type", "sparkle"),
        "EditingConfig.BackgroundImageConfig.Type", "blur"),
    Bad("background-type-image-without-pictures", _set("EditingConfig.BackgroundImageConfig.Type", "image"),
        "EditingConfig.BackgroundImageConfig.Type", "BackgroundImageArray"),
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_REQUESTS, ids=[b.id for b in BAD_REQUESTS])
def test_invalid_submit_names_the_field(bad: Bad) -> None:
    doc = job_doc(MEDIA)
    bad.change(doc, MEDIA)
    found = violations(doc)
    matching = [d for f, d in found if f == bad.field]
    assert matching, f"no violation of {bad.field}; got {found}"
    assert any(bad.says in d for d in matching), f"{bad.field}: {matching} do not say {bad.says!r}"


def test_a_valid_job_passes_the_same_checks() -> None:
    """The base of the table above is valid, so each case fails for its own change only."""
    doc = job_doc(MEDIA)
    doc["EditingConfig"] = {"MediaConfig": {"Volume": "0.5"}, "ProcessConfig": {"TransitionList": ["fade"]}}
    doc["ClientToken"] = "k" * 64
    doc["UserData"] = json.dumps({"k": "视" * 160}, ensure_ascii=False)  # 489 bytes of UTF-8
    job = validate(doc)
    assert (job.job_type, job.count, job.client_token) == ("Script", 1, "k" * 64)
    assert job.editing_config.media_config.volume == 0.5


def test_every_problem_of_a_request_is_reported() -> None:
    doc = job_doc(MEDIA, count=0, Width=161)
    doc["ClientToken"] = "t" * 65
    found = violations(doc)
    assert sorted(f for f, _ in found) == ["ClientToken", "OutputConfig.Count", "OutputConfig.Width"], found


def test_a_config_that_cannot_be_parsed_is_reported_once() -> None:
    doc = job_doc(MEDIA)
    _malformed_input(doc, MEDIA)
    assert [f for f, _ in violations(doc)] == ["InputConfig"]


def test_every_field_of_the_wrong_shape_is_named() -> None:
    doc = job_doc(MEDIA)
    doc["OutputConfig"] = json.dumps({"Count": "two", "Video": {"Crf": 23, "Colour": "red"}, "Width": [1]})
    doc["EditingConfig"] = {"MediaConfig": {"Volume": True}, "SubHeadingConfig": {"one": {}}}
    found = violations(doc)
    assert sorted(f for f, _ in found) == [
        "EditingConfig.MediaConfig.Volume", "EditingConfig.SubHeadingConfig.one",
        "OutputConfig.Count", "OutputConfig.Width",
    ], found  # fmt: skip


def test_fields_neither_ice_nor_reelmill_know_are_ignored_and_listed() -> None:
    doc = job_doc(MEDIA, Colour="red")
    doc["OutputConfig"]["Video"] = {"Crf": 23, "Quality": "high"}
    doc["EditingConfig"] = json.dumps({"ProcessConfig": {"Sparkle": True}, "Future": {"A": 1}})
    job = validate(doc)
    assert job.ignored_fields == (
        "EditingConfig.ProcessConfig.Sparkle", "EditingConfig.Future", "OutputConfig.Colour",
        "OutputConfig.Video.Quality",
    )  # fmt: skip
    assert job.output_config.video.crf == 23  # the rest is read as usual
    # what ICE's AI matching needs is still refused, saying why, rather than ignored
    doc["InputConfig"]["MediaSearchInput"] = {"Query": "cats"}
    assert violations(doc)[0][1].startswith("not supported")


def test_media_meta_data_group_name_is_for_script_mode_only() -> None:
    doc = {
        "InputConfig": {"MediaArray": [f"file://{MEDIA}/a.mp4"]},
        "EditingConfig": {
            "MediaConfig": {
                "MediaMetaDataArray": [
                    {
                        "Media": f"file://{MEDIA}/a.mp4",
                        "GroupName": "g",
                        "TimeRangeList": [{"In": 0, "Out": 1}],
                    }
                ]
            }
        },
    }
    assert violations(doc) == [("EditingConfig.MediaConfig.MediaMetaDataArray[0].GroupName",
                                "only in Script mode (MediaGroupArray), as in ICE")]  # fmt: skip


def test_an_ice_document_with_ices_fields_is_valid() -> None:
    doc = job_doc(MEDIA)
    doc["InputConfig"].update(
        Title="新品上市",
        SpeechText="欢迎选购。",
        BackgroundMusic=f"file://{MEDIA}/m.m4a",
        Sticker={"MediaURL": f"file://{MEDIA}/logo.png", "DyncFrames": 10},
    )
    doc["EditingConfig"] = {
        "MediaConfig": {
            "MediaMetaDataArray": [
                {
                    "Media": f"file://{MEDIA}/a.mp4",
                    "GroupName": "opening",
                    "TimeRangeList": [{"In": 0, "Out": 1}],
                }
            ]
        },
        "SpeechConfig": {"Voice": "zhiqi", "Style": "Gentle", "AsrConfig": {"AdaptMode": "AutoWrap"}},
        "BackgroundMusicConfig": {"Style": "bgm-relaxing"},
        "ProcessConfig": {"EnableClipSplit": False, "TransitionList": ["directional"]},
        "BackgroundImageConfig": {"Type": "blur", "Radius": 0.05},
    }
    doc["OutputConfig"].update(StorageLocation="vod.example.com", FileName="out_{index}.mp4")
    job = validate(doc)
    assert job.input_config.title == "新品上市" and job.input_config.sticker.dync_frames == 10


def test_notify_address_may_name_an_mns_queue_as_in_ice() -> None:
    doc = job_doc(MEDIA)
    doc["UserData"] = json.dumps({"NotifyAddress": "ice-callback-demo"})
    assert validate(doc).user_data == doc["UserData"]  # accepted (Get reports it is not delivered)
    doc["UserData"] = json.dumps({"NotifyAddress": "not a queue"})
    assert violations(doc)[0][0] == "UserData.NotifyAddress"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_typed_nan_and_infinity_are_refused_naming_the_field(value: float) -> None:
    """JSON has no NaN; a typed gRPC request can carry one, and a render would fail on it."""
    request = submit_request(job_doc(MEDIA), "/")
    request.editing_config.title_config.x = value
    with pytest.raises(InvalidArgumentError) as info:
        validate_submit(request, ROOTS)
    found = [(v.field, v.description) for v in info.value.violations]
    assert any(f == "EditingConfig.TitleConfig.X" and "finite" in d for f, d in found), found


DEEP = '{"MediaArray": ' + "[" * 10000 + "]" * 10000 + "}"
MEDIA_JSON = '{"MediaArray": ["%s"]}'


@pytest.mark.parametrize(
    ("field", "configs", "says"),
    [
        ("InputConfig", {"input_config_json": DEEP}, "nested too deeply"),
        ("InputConfig.MediaArray[0]", {"input_config_json": MEDIA_JSON % "http://[::1/a.mp4"}, "not a URL"),
        ("InputConfig.MediaArray[0]", {"input_config_json": MEDIA_JSON % "http://h.ex:x/a.mp4"}, "not a URL"),
        ("UserData.NotifyAddress", {"input_config_json": MEDIA_JSON % "file:///m/a.mp4",
                                    "user_data": '{"NotifyAddress": "http://[::1"}'}, "not a URL"),
    ],
)  # fmt: skip
def test_malformed_inputs_are_invalid_arguments_not_internal_errors(
    field: str, configs: dict[str, str], says: str
) -> None:
    """Issue 13: what used to answer INTERNAL (a recursion error, a ValueError from urlsplit)."""
    from reelmill.v1 import batch_service_pb2 as api

    with pytest.raises(InvalidArgumentError) as info:
        validate_submit(api.SubmitBatchMediaProducingJobRequest(**configs), ROOTS)
    assert any(v.field == field and says in v.description for v in info.value.violations), (
        info.value.violations
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///srv/outputs/acme/x.mp4", None),
        ("file:///srv/outputs/acme/sub/{index}.mp4", None),
        ("file:///srv/outputs/globex/x.mp4", "must be under /srv/outputs/acme"),
        ("file:///srv/outputs/x.mp4", "must be under /srv/outputs/acme"),
        ("file:///srv/outputs/acme-evil/x.mp4", "must be under /srv/outputs/acme"),
        ("s3://acme-videos/2026/x.mp4", None),
        ("s3://shared/acme/x.mp4", None),
        ("s3://shared/acme-evil/x.mp4", "go under s3://acme-videos/ or s3://shared/acme/"),
        ("s3://shared/acme/../globex/x.mp4", "go under"),
        ("s3://acme-videos-evil/x.mp4", "go under"),
        ("s3://globex-videos/x.mp4", "go under"),
    ],
)
def test_outputs_go_only_to_the_tenants_own_places(url: str, says: str | None) -> None:
    """Issue 13: a tenant's MediaURL may name only its own folder and its own S3 prefixes."""
    roots = Roots(media=(str(MEDIA),), output="/srv/outputs/acme",
                  s3_prefixes=("s3://acme-videos/", "s3://shared/acme/"))  # fmt: skip
    request = submit_request(job_doc(MEDIA, MediaURL=url), "/")
    if says is None:
        assert validate_submit(request, roots).output_config.media_url == url
        return
    with pytest.raises(InvalidArgumentError) as info:
        validate_submit(request, roots)
    found = [(v.field, v.description) for v in info.value.violations]
    assert any(f == "OutputConfig.MediaURL" and says in d for f, d in found), found


def test_s3_outputs_are_refused_where_no_place_is_configured() -> None:
    request = submit_request(job_doc(MEDIA, MediaURL="s3://bucket/x.mp4"), "/")
    with pytest.raises(InvalidArgumentError, match="REELMILL_OUTPUT_S3_PREFIXES"):
        validate_submit(request, ROOTS)


def test_a_job_names_at_most_a_thousand_media_in_all() -> None:
    doc = job_doc(MEDIA)
    doc["InputConfig"]["MediaGroupArray"] = [
        {"GroupName": f"g{i}", "MediaArray": [f"file://{MEDIA}/{i}-{j}.mp4" for j in range(26)]}
        for i in range(39)
    ]  # 39 × 26 = 1014
    assert (
        "InputConfig.MediaGroupArray",
        "at most 1000 media in all groups together, got 1014",
    ) in violations(doc)


def test_an_answer_with_the_most_mistakes_fits_a_clients_default_trailers() -> None:
    """gRPC clients take 8 KiB of trailers by default: the status message (percent-encoded) and the
    details (base64, the message again) of the largest answer must fit, or the client sees only
    "Stream removed" (it did, when the media root's name was a few characters longer)."""
    import base64
    from urllib.parse import quote

    from gateway.api import status_of
    from gateway.errors import MAX_VIOLATIONS, FieldViolation

    long = "é" * 2000  # percent-encoding makes each of these six bytes in grpc-message
    field = "InputConfig.MediaGroupArray[0].MediaArray"
    error = InvalidArgumentError(
        [FieldViolation(f"{field}[{i}]{long}", long) for i in range(MAX_VIOLATIONS * 2)]
    )
    status = status_of(error)
    message = quote(status.message, safe=" ")
    trailers = len(message) + len(base64.b64encode(status.SerializeToString())) + 200  # names, code
    assert trailers < 8192, trailers
