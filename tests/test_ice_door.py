"""ICE's official Python SDK (alibabacloud-ice20201109 from PyPI), pointed at a real stack's ICE door: an
ICE user changes the endpoint and nothing else. Keys come from `reelmill keys new`, as an operator's do."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi import models as openapi
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils

from cli.natsd import free_port
from cli.samples import make_image, make_video
from conftest import Stack, make_stack

ICE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def new_keys(stack: Stack, tenant: str) -> tuple[str, str]:
    """An AccessKey pair from `reelmill keys new`, its entry added to the stack's keys file."""
    out = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "new", "--tenant", tenant,
         "--file", stack.env["REELMILL_API_KEYS_FILE"],
         "--master-file", stack.env["REELMILL_ACCESS_KEY_MASTER_FILE"]],
        env=stack.env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    key_id = re.search(r"AccessKeyId for \S+: (\S+)", out)
    secret = re.search(r"AccessKeySecret \(.*\): (\S+)", out)
    assert key_id and secret, out
    return key_id[1], secret[1]


class Door:
    def __init__(self, stack: Stack, port: int, keys: dict[str, tuple[str, str]], metrics_port: int) -> None:
        self.stack, self.port, self.keys, self.metrics_port = stack, port, keys, metrics_port

    def client(self, tenant: str = "acme", secret: str | None = None) -> Client:
        key_id, real_secret = self.keys[tenant]
        config = openapi.Config(access_key_id=key_id, access_key_secret=secret or real_secret,
                                endpoint=f"127.0.0.1:{self.port}", protocol="HTTP", region_id="cn-shanghai",
                                read_timeout=30000, connect_timeout=5000)  # fmt: skip
        return Client(config)


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    tmp = tmp_path_factory.mktemp("ice")
    port, metrics_port = free_port(), free_port()
    stack = make_stack(tmp, None, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(tmp / "keys.json"),
                       REELMILL_ACCESS_KEY_MASTER_FILE=str(tmp / "master.key"),
                       REELMILL_ICE_LISTEN=f"127.0.0.1:{port}",
                       REELMILL_METRICS_PORT=str(metrics_port))  # fmt: skip
    try:
        keys = {tenant: new_keys(stack, tenant) for tenant in ("acme", "globex")}
        make_video(str(stack.media_dir / "a.mp4"), 320, 240, 1.5)
        make_video(str(stack.media_dir / "b.mp4"), 320, 240, 1.5, tone_hz=550)
        make_image(str(stack.media_dir / "still.png"), 320, 240)
        stack.start("gateway")
        stack.start("worker")
        yield Door(stack, port, keys, metrics_port)
    finally:
        stack.close()


def ended(client: Client, job_id: str, timeout_s: float = 120) -> Any:
    """Get, polled as an ICE user polls, until the batch ends (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        batch = client.get_batch_media_producing_job(ice.GetBatchMediaProducingJobRequest(job_id=job_id))
        job = batch.body.editing_batch_job
        if job.status in ("Finished", "Failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def ice_document(media: Path) -> dict[str, str]:
    """The configs as ICE clients send them: JSON in strings."""
    return {
        "input_config": json.dumps({"MediaGroupArray": [
            {"GroupName": "open", "MediaArray": [f"file://{media}/a.mp4", f"file://{media}/b.mp4"],
             "Duration": 1},
            {"GroupName": "close", "MediaArray": [f"file://{media}/still.png"], "Duration": 0.5},
        ], "TitleArray": ["新品上市", "Open late"]}, ensure_ascii=False),
        "editing_config": json.dumps({"MediaConfig": {"Volume": 0.5}}),
        "output_config": json.dumps({"Count": 2, "Width": 160, "Height": 288}),
        "user_data": json.dumps({"Campaign": "ice"}),
    }  # fmt: skip


def test_the_sdk_submits_polls_and_lists(door: Door) -> None:
    client = door.client()
    submitted = client.submit_batch_media_producing_job(
        ice.SubmitBatchMediaProducingJobRequest(client_token="ice-1", **ice_document(door.stack.media_dir))
    )
    job_id = submitted.body.job_id
    assert job_id and submitted.body.request_id
    again = client.submit_batch_media_producing_job(
        ice.SubmitBatchMediaProducingJobRequest(client_token="ice-1", **ice_document(door.stack.media_dir))
    )
    assert again.body.job_id == job_id  # ClientToken: the same request is the same job

    batch = ended(client, job_id)
    assert batch.status == "Finished", batch.to_map()
    assert batch.job_type == "Script" and json.loads(batch.user_data) == {"Campaign": "ice"}
    # ICE's shapes: the configs as JSON strings, times to the second in UTC
    assert json.loads(batch.output_config)["Count"] == 2 and isinstance(batch.input_config, str)
    assert all(ICE_TIME.match(t) for t in (batch.create_time, batch.modified_time, batch.complete_time))
    assert [s.status for s in batch.sub_job_list] == ["Success", "Success"]
    for sub in batch.sub_job_list:
        assert sub.media_url.startswith("file://") and sub.duration == pytest.approx(1.5, abs=0.1)
        assert Path(sub.media_url.removeprefix("file://")).is_file()
        # each output is in the media library, as ICE registers its outputs
        output = client.get_media_info(ice.GetMediaInfoRequest(media_id=sub.media_id)).body.media_info
        assert output.media_basic_info.input_url == sub.media_url
        assert (output.file_info_list[0].file_basic_info.width, output.media_basic_info.media_type) == (
            "160",
            "video",
        )

    listed = client.list_batch_media_producing_jobs(ice.ListBatchMediaProducingJobsRequest(max_results=5))
    assert job_id in [j.job_id for j in listed.body.editing_batch_job_list]
    assert listed.body.max_results == 5


def test_errors_reach_the_sdk_as_ice_codes(door: Door) -> None:
    client = door.client()
    with pytest.raises(ClientException) as e:
        client.get_batch_media_producing_job(ice.GetBatchMediaProducingJobRequest(job_id="nope"))
    assert (e.value.status_code, e.value.code) == (404, "InvalidParameter.JobNotFound")
    with urllib.request.urlopen(f"http://127.0.0.1:{door.metrics_port}/metrics", timeout=5) as r:
        scraped = r.read().decode()
    counted = (
        'reelmill_ice_requests_total{action="GetBatchMediaProducingJob",code="InvalidParameter.JobNotFound"}'
    )
    assert counted in scraped  # operators see the door's answers by action and ICE code
    bad = ice_document(door.stack.media_dir) | {"output_config": json.dumps({"Count": 0})}
    with pytest.raises(ClientException) as e:
        client.submit_batch_media_producing_job(ice.SubmitBatchMediaProducingJobRequest(**bad))
    assert (e.value.status_code, e.value.code) == (400, "InvalidParameter")
    assert "OutputConfig.Count" in e.value.message
    with pytest.raises(ClientException) as e:
        client.list_batch_media_producing_jobs(ice.ListBatchMediaProducingJobsRequest(start_time="yesterday"))
    assert e.value.code == "InvalidParameter" and "StartTime" in e.value.message


def test_a_wrong_secret_an_unknown_key_and_another_tenant_are_refused(door: Door) -> None:
    with pytest.raises(ClientException) as e:
        door.client(secret="not-the-secret").list_batch_media_producing_jobs(
            ice.ListBatchMediaProducingJobsRequest()
        )
    assert e.value.code == "SignatureDoesNotMatch"
    unknown = Client(openapi.Config(access_key_id="RMAKNOBODY", access_key_secret="x", protocol="HTTP",
                                    endpoint=f"127.0.0.1:{door.port}", region_id="cn-shanghai"))  # fmt: skip
    with pytest.raises(ClientException) as e:
        unknown.list_batch_media_producing_jobs(ice.ListBatchMediaProducingJobsRequest())
    assert e.value.code == "InvalidAccessKeyId.NotFound"
    job_id = (
        door.client()
        .submit_batch_media_producing_job(
            ice.SubmitBatchMediaProducingJobRequest(**ice_document(door.stack.media_dir))
        )
        .body.job_id
    )
    with pytest.raises(ClientException) as e:
        door.client("globex").get_batch_media_producing_job(
            ice.GetBatchMediaProducingJobRequest(job_id=job_id)
        )
    assert e.value.code == "InvalidParameter.JobNotFound"


def send(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_a_body_over_the_limit_is_refused_as_ice_json(door: Door) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    url = f"http://127.0.0.1:{door.port}/"
    request = urllib.request.Request(url, data=b"x" * (5 << 20), method="POST", headers=form)
    status, body = send(request)
    assert (status, body["Code"]) == (400, "InvalidParameter") and "bytes" in body["Message"]


def test_an_old_date_and_a_replayed_nonce_are_refused(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own requests, with its clock set back and then its nonce fixed: its exception carries
    ICE's code."""
    client, listing = door.client(), ice.ListBatchMediaProducingJobsRequest(max_results=1)
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: old))
    with pytest.raises(ClientException) as e:
        client.list_batch_media_producing_jobs(listing)
    assert (e.value.status_code, e.value.code) == (401, "InvalidTimeStamp.Expired")
    monkeypatch.undo()
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: "the-same-nonce"))
    client.list_batch_media_producing_jobs(listing)
    with pytest.raises(ClientException) as e:
        client.list_batch_media_producing_jobs(listing)
    assert (e.value.status_code, e.value.code) == (401, "SignatureNonceUsed")


def test_a_document_with_ices_names_and_fields_renders_and_says_what_it_substituted(door: Door) -> None:
    media = door.stack.media_dir
    doc = ice_document(media) | {
        "input_config": json.dumps({
            "MediaGroupArray": [{"GroupName": "open", "MediaArray": [f"file://{media}/a.mp4"]},
                                {"GroupName": "close", "MediaArray": [f"file://{media}/still.png"]}],
            "Title": "新品上市", "SpeechText": "新品上市。",
        }, ensure_ascii=False),
        "editing_config": json.dumps({
            "MediaConfig": {"MediaMetaDataArray": [{"Media": f"file://{media}/a.mp4", "GroupName": "open",
                                                    "TimeRangeList": [{"In": "0", "Out": "1"}]}]},
            "SpeechConfig": {"Voice": "zhiqi", "Style": "Gentle"},
            "ProcessConfig": {"AllowTransition": True, "TransitionList": ["directional"],
                              "AllowFilter": True, "FilterList": ["pf1"],
                              "AllowVfxEffect": True, "VfxFirstClipEffectList": ["zoominout"]},
        }),
        "output_config": json.dumps({"Count": 1, "Width": 160, "Height": 288}),
    }  # fmt: skip
    client = door.client()
    job_id = client.submit_batch_media_producing_job(
        ice.SubmitBatchMediaProducingJobRequest(**doc)
    ).body.job_id
    batch = ended(client, job_id)
    assert batch.status == "Finished", batch.to_map()
    substitutions = json.loads(batch.extend)["Substitutions"]
    assert any("directional → slideleft" in s for s in substitutions)
    assert any("zhiqi → zh-female-1" in s for s in substitutions)
    assert any(s.startswith("EditingConfig.SpeechConfig.Style: Gentle → not rendered") for s in substitutions)
    assert len(substitutions) == 5
    assert json.loads(batch.input_config)["Title"] == "新品上市"  # echoed as given
    # (what the plan draws with them: tests/worker/plans/ice-names.json and ice-fields.json)


def test_the_migration_guides_example_runs_as_it_is(door: Door, tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "migrating-from-ice.md").read_text(
        encoding="utf-8"
    )
    code = re.search(r"## The Python SDK, end to end.*?```python\n(.*?)```", guide, re.S)
    assert code, "docs/migrating-from-ice.md has no Python example"
    script = tmp_path / "example.py"
    script.write_text(code[1], encoding="utf-8")
    key_id, secret = door.keys["acme"]
    env = {**door.stack.env, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
           "ICE_ENDPOINT": f"127.0.0.1:{door.port}", "MEDIA": str(door.stack.media_dir)}  # fmt: skip
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    *outputs, substitutions = run.stdout.splitlines()
    assert len(outputs) == 2 and all(line.startswith("Success file://") for line in outputs), run.stdout
    assert "zhiqi → zh-female-1" in substitutions


def test_batch_editing_templates_through_the_sdk(door: Door) -> None:
    client = door.client()
    config = {"EditingTemplateConfig": {"MediaConfig": {"Volume": 0.4}},
              "OutputTemplateConfig": {"Width": 128, "Height": 224}}  # fmt: skip
    added = client.add_template(ice.AddTemplateRequest(name="portrait-small", type="BatchEditing",
                                                       config=json.dumps(config))).body.template  # fmt: skip
    assert added.template_id and added.type == "BatchEditing" and json.loads(added.config) == config
    got = client.get_template(ice.GetTemplateRequest(template_id=added.template_id)).body.template
    assert (got.name, got.status) == ("portrait-small", "Available") and ICE_TIME.match(got.creation_time)
    listed = client.list_templates(ice.ListTemplatesRequest(type="BatchEditing", page_no=1, page_size=5)).body
    assert added.template_id in [t.template_id for t in listed.templates] and listed.total_count >= 1

    doc = ice_document(door.stack.media_dir) | {"output_config": json.dumps({"Count": 1})}
    request = ice.SubmitBatchMediaProducingJobRequest(template_config=json.dumps([added.template_id]), **doc)
    job_id = client.submit_batch_media_producing_job(request).body.job_id
    batch = client.get_batch_media_producing_job(ice.GetBatchMediaProducingJobRequest(job_id=job_id))
    assert batch.body.editing_batch_job.status in ("Init", "Processing", "Finished")

    client.delete_template(ice.DeleteTemplateRequest(template_ids=added.template_id))
    with pytest.raises(ClientException) as e:
        client.get_template(ice.GetTemplateRequest(template_id=added.template_id))
    assert (e.value.status_code, e.value.code) == (404, "InvalidParameter.TemplateNotFound")
    with pytest.raises(ClientException) as e:
        client.add_template(ice.AddTemplateRequest(name="x", type="Timeline", config="{}"))
    assert e.value.code == "InvalidParameter" and "BatchEditing" in e.value.message


def test_media_ids_work_wherever_a_document_takes_media(door: Door) -> None:
    client, media = door.client(), door.stack.media_dir
    ids = {}
    for name in ("a.mp4", "b.mp4", "still.png"):
        registered = client.register_media_info(ice.RegisterMediaInfoRequest(input_url=f"file://{media}/{name}",
                                                                             title=name))  # fmt: skip
        ids[name] = registered.body.media_id
    info = client.get_media_info(ice.GetMediaInfoRequest(media_id=ids["a.mp4"])).body.media_info
    assert (info.media_basic_info.media_type, info.media_basic_info.status) == ("video", "Normal")
    assert info.file_info_list[0].file_basic_info.width == "320"
    assert float(info.file_info_list[0].file_basic_info.duration) == pytest.approx(1.5, abs=0.05)

    # the seed document of ICE's page, its media named by MediaId (and a sticker too), small and 2 variants
    doc = {
        "input_config": json.dumps({
            "MediaGroupArray": [{"GroupName": "MediaGroup1", "MediaArray": [ids["a.mp4"], ids["b.mp4"]]},
                                {"GroupName": "MediaGroup2", "MediaArray": [ids["still.png"], ids["a.mp4"]]}],
            "TitleArray": ["回龙观盒马鲜生开业啦", "盒马鲜生开业啦"],
            "SpeechTextArray": ["附近的商场新开了一家盒马鲜生,今天是第一天开业",
                                "商场里的人不少,零食、酒水都比较便宜大家也快来看看呀"],
            "Sticker": {"MediaId": ids["still.png"], "Width": 0.2},
        }, ensure_ascii=False),
        "editing_config": json.dumps({"MediaConfig": {"Volume": 0}, "SpeechConfig": {"Volume": 1},
                                      "BackgroundMusicConfig": {"Volume": 0.3}}),
        "output_config": json.dumps({"Count": 2, "MaxDuration": 15, "Width": 160, "Height": 288,
                                     "Video": {"Crf": 27}}),
    }  # fmt: skip
    job_id = client.submit_batch_media_producing_job(
        ice.SubmitBatchMediaProducingJobRequest(**doc)
    ).body.job_id
    batch = ended(client, job_id)
    assert batch.status == "Finished", batch.to_map()
    assert f"file://{media}/a.mp4" in batch.input_config  # the job records the URLs the ids stood for

    # templates take MediaIds too
    config = {"InputTemplateConfig": {"StickerArray": [{"MediaId": ids["still.png"]}]},
              "OutputTemplateConfig": {"Width": 160, "Height": 288}}  # fmt: skip
    template = client.add_template(
        ice.AddTemplateRequest(name="logo", config=json.dumps(config))
    ).body.template
    sticker = json.loads(template.config)["InputTemplateConfig"]["StickerArray"][0]
    assert sticker == {"MediaURL": f"file://{media}/still.png"}
    listed = client.list_media_basic_infos(ice.ListMediaBasicInfosRequest(max_results=50)).body
    assert set(ids.values()) <= {m.media_id for m in listed.media_infos}
    # another tenant's ids are not this tenant's media
    other = {"input_config": json.dumps({"MediaArray": [ids["a.mp4"]]})}
    with pytest.raises(ClientException) as e:
        door.client("globex").submit_batch_media_producing_job(
            ice.SubmitBatchMediaProducingJobRequest(**(ice_document(media) | other)))  # fmt: skip
    assert e.value.code == "InvalidParameter" and "InputConfig.MediaArray[0]" in e.value.message
    client.delete_media_infos(ice.DeleteMediaInfosRequest(media_ids=ids["b.mp4"]))
    with pytest.raises(ClientException) as e:
        client.get_media_info(ice.GetMediaInfoRequest(media_id=ids["b.mp4"]))
    assert (e.value.status_code, e.value.code) == (404, "InvalidParameter.MediaNotFound")


def test_reelmill_dev_serves_the_ice_door_open_and_prints_it(tmp_path: Path) -> None:
    ice_port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "cli", "dev", "--data-dir", str(tmp_path / "data"), "--nats-port", "0",
         "--listen", f"127.0.0.1:{free_port()}", "--ice-listen", f"127.0.0.1:{ice_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert dev.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("ready"):
            line = dev.stdout.readline()
            assert line, f"reelmill dev ended early: {lines}"
            lines.append(line)
        assert f"ICE door     http://127.0.0.1:{ice_port}" in "".join(lines)
        config = openapi.Config(access_key_id="any", access_key_secret="key", protocol="HTTP",
                                endpoint=f"127.0.0.1:{ice_port}", region_id="cn-shanghai")  # fmt: skip
        client = Client(config)
        listed = client.list_batch_media_producing_jobs(ice.ListBatchMediaProducingJobsRequest()).body
        assert listed.editing_batch_job_list == [] and listed.max_results == 10  # open: any AccessKey
    finally:
        dev.terminate()
        dev.communicate(timeout=60)  # reads what is left and closes the pipe
