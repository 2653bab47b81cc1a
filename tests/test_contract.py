"""The contract: ICE documents parse verbatim, messages print ICE-shaped JSON, buf lint passes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format

from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import job_config_pb2 as cfg

ROOT = Path(__file__).resolve().parents[1]

# The seed example of the job model §10, as ICE documents it (media ids replaced by URLs).
ICE_INPUT = """{
  "MediaGroupArray": [
    {"GroupName": "HeadGroup", "MediaArray": ["file:///media/h1.mp4", "file:///media/h2.mp4"]},
    {"GroupName": "TailGroup", "MediaArray": ["file:///media/t1.mp4", "file:///media/t2.mp4"]}
  ],
  "TitleArray": ["回龙观盒马鲜生开业啦", "盒马鲜生开业啦"],
  "SpeechTextArray": ["回龙观盒马鲜生开业啦，盛大开业，买一送一", "地址在回龙观西大街，欢迎光临"]
}"""
ICE_EDITING = """{"MediaConfig": {"Volume": 0}, "SpeechConfig": {"Volume": 1},
  "BackgroundMusicConfig": {"Volume": "0.3"}, "SubHeadingConfig": {"1": {"FontSize": 40}}}"""
ICE_OUTPUT = """{"MediaURL": "file:///out/xxx_{index}.mp4", "Count": 20, "MaxDuration": 15,
  "Width": 1080, "Height": 1920, "Video": {"Crf": 27}}"""


def test_ice_documents_parse_verbatim() -> None:
    ic = json_format.Parse(ICE_INPUT, cfg.InputConfig())
    ec = json_format.Parse(ICE_EDITING, cfg.EditingConfig())
    oc = json_format.Parse(ICE_OUTPUT, cfg.OutputConfig())
    assert [g.group_name for g in ic.media_group_array] == ["HeadGroup", "TailGroup"]
    assert ic.title_array[0] == "回龙观盒马鲜生开业啦"
    assert ec.media_config.HasField("volume") and ec.media_config.volume == 0
    assert ec.background_music_config.volume == pytest.approx(0.3)  # numeric strings are numbers
    assert ec.sub_heading_config[1].font_size == 40
    assert (oc.count, oc.max_duration, oc.width, oc.height, oc.video.crf) == (20, 15, 1080, 1920, 27)


def test_messages_print_ice_names() -> None:
    """ICE's names carry ICE's forms (strings, times to the second); the typed forms have names of their
    own (…Object, …Timestamp). gateway/views.py fills both."""
    job = api.EditingBatchJob(job_id="j", job_type="Script", status="Finished")
    job.create_time_text, job.output_config_json = "2024-06-13T08:47:07Z", ICE_OUTPUT
    job.sub_job_list.add(job_id="s", index=1, status="Success", media_url="file:///o/1.mp4", duration=6.5)
    job.create_time.FromJsonString("2024-06-13T08:47:07.250Z")
    json_format.Parse(ICE_OUTPUT, job.output_config)
    doc = json.loads(json_format.MessageToJson(api.GetBatchMediaProducingJobResponse(editing_batch_job=job)))
    batch = doc["EditingBatchJob"]
    assert (batch["CreateTime"], batch["CreateTimestamp"]) == (
        "2024-06-13T08:47:07Z",
        "2024-06-13T08:47:07.250Z",
    )
    assert batch["SubJobList"][0] == {
        "JobId": "s", "Index": 1, "Status": "Success", "MediaURL": "file:///o/1.mp4", "Duration": 6.5,
    }  # fmt: skip
    assert json.loads(batch["OutputConfig"])["MediaURL"] == "file:///out/xxx_{index}.mp4"
    assert batch["OutputConfigObject"]["MediaURL"] == "file:///out/xxx_{index}.mp4"


def test_ice_example_with_its_missing_comma_is_malformed() -> None:
    broken = ICE_INPUT.replace('欢迎光临"]', '欢迎光临" "x"]')
    with pytest.raises(json_format.ParseError):
        json_format.Parse(broken, cfg.InputConfig())


def test_buf_lint() -> None:
    buf = ROOT / ".tools/buf/node_modules/.bin/buf"
    if not buf.exists():
        found = shutil.which("buf")
        if found is None:
            pytest.skip("buf is not installed (make buf)")
        buf = Path(found)
    result = subprocess.run([str(buf), "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_ice_document_parses_as_it_is_in_the_json_mapping() -> None:
    """What grpcurl -d or buf curl send: ICE's names with the configs and TemplateConfig as strings."""
    doc = {"InputConfig": ICE_INPUT, "EditingConfig": ICE_EDITING, "OutputConfig": ICE_OUTPUT,
           "UserData": '{"k": 1}', "ClientToken": "t", "TemplateConfig": '["t-1"]'}  # fmt: skip
    request = json_format.ParseDict(doc, api.SubmitBatchMediaProducingJobRequest())
    assert request.WhichOneof("input") == "input_config_json" and request.input_config_json == ICE_INPUT
    assert request.output_config_json == ICE_OUTPUT and request.template_config_json == '["t-1"]'
    typed = json_format.ParseDict(
        {"OutputConfigObject": {"Count": 2}}, api.SubmitBatchMediaProducingJobRequest()
    )
    assert typed.output_config.count == 2  # the typed form keeps a name of its own
