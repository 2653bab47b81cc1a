"""Batch-editing templates (spec §7): stored per tenant, merged under a submit's own configs,
one drawn per variant."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av
import grpc
import pytest
from google.protobuf import json_format

from cli.client import submit_request
from cli.samples import make_image, make_video
from conftest import Stack, make_stack
from gateway.app import _with_template_ids
from gateway.errors import InvalidArgumentError
from gateway.templates import overlay, template_ids
from gateway.validate import Roots, validate_submit, validate_template
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import job_config_pb2 as cfg

ROOTS = Roots(media=("/media",), output="/out")


def test_the_request_wins_field_by_field() -> None:
    base = json_format.ParseDict(
        {
            "TitleConfig": {"FontSize": 40, "FontColor": "#FFFFFF"},
            "ProcessConfig": {"TransitionList": ["fade"]},
            "SubHeadingConfig": {"1": {"FontSize": 30}},
            "BackgroundMusicConfig": {"Volume": 0.4},
        },
        cfg.EditingConfig(),
    )
    top = json_format.ParseDict(
        {
            "TitleConfig": {"FontSize": 60},
            "ProcessConfig": {"TransitionList": ["wipeleft", "slideup"]},
            "SubHeadingConfig": {"2": {"FontSize": 20}},
            "BackgroundMusicConfig": {"Volume": 0},
        },
        cfg.EditingConfig(),
    )
    merged = json_format.MessageToDict(overlay(base, top))
    assert merged["TitleConfig"] == {"FontSize": 60, "FontColor": "#FFFFFF"}  # nested: merged
    assert merged["ProcessConfig"]["TransitionList"] == ["wipeleft", "slideup"]  # lists: replaced
    assert set(merged["SubHeadingConfig"]) == {"1", "2"}  # maps: merged by key
    assert merged["BackgroundMusicConfig"]["Volume"] == 0  # an explicit 0 wins over the template's 0.4


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"InputTemplateConfig": {"TitleArray": ["x"]}}, "Config.InputTemplateConfig.TitleArray"),
        (
            {"OutputTemplateConfig": {"MediaURL": "file:///out/{index}.mp4"}},
            "Config.OutputTemplateConfig.MediaURL",
        ),
        ({"OutputTemplateConfig": {"Count": 3}}, "Config.OutputTemplateConfig.Count"),
        (
            {"EditingTemplateConfig": {"TitleConfig": {"FontSize": 2}}},
            "Config.EditingTemplateConfig.TitleConfig.FontSize",
        ),
        (
            {"InputTemplateConfig": {"BackgroundMusicArray": ["file:///etc/x.m4a"]}},
            "Config.InputTemplateConfig.BackgroundMusicArray[0]",
        ),
        ({"OutputTemplateConfig": {"Width": 33}}, "Config.OutputTemplateConfig.Width"),
    ],
)
def test_a_template_holds_only_valid_template_parts(config: dict, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as bad:
        validate_template(api.AddTemplateRequest(name="t", config_json=json.dumps(config)), ROOTS)
    assert [v.field for v in bad.value.violations] == [field]


def test_a_submit_uses_one_template_per_variant_deterministically() -> None:
    templates = [
        json_format.ParseDict({"OutputTemplateConfig": {"Width": w, "Height": 64}}, api.TemplateContent())
        for w in (64, 128)
    ]
    req = api.SubmitBatchMediaProducingJobRequest(
        input_config_json=json.dumps({"MediaArray": ["file:///media/a.mp4"]}),
        output_config_json=json.dumps(
            {"Count": 8, "MediaURL": "file:///out/{index}.mp4", "Video": {"Crf": 30}}
        ),
        template_config=["a", "b"],
        seed=7,
    )
    job = validate_submit(req, ROOTS, templates)
    widths = [job.configs_for(i, 7)[2].width for i in range(8)]
    assert set(widths) == {64, 128} and widths == [job.configs_for(i, 7)[2].width for i in range(8)]
    assert all(job.configs_for(i, 7)[2].video.crf == 30 for i in range(8))  # the request's own setting
    assert job.output_config.width == 0  # Get shows the request as it was sent


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = make_stack(tmp_path_factory.mktemp("templates"), None)
    try:
        make_video(str(s.media_dir / "clip.mp4"), 320, 240, 1.0)
        make_image(str(s.media_dir / "logo.png"), 40, 40, (250, 250, 250))
        s.start("gateway")
        s.start("worker")
        yield s
    finally:
        s.close()


def add(stack: Stack, name: str, config: dict) -> str:
    request = api.AddTemplateRequest(name=name, config_json=json.dumps(config))
    return stack.stub.AddTemplate(request).template.template_id


def test_templates_are_stored_listed_and_deleted(stack: Stack) -> None:
    ids = [
        add(stack, f"look {n}", {"EditingTemplateConfig": {"TitleConfig": {"FontSize": 30 + n}}})
        for n in range(3)
    ]
    got = stack.stub.GetTemplate(api.GetTemplateRequest(template_id=ids[1])).template
    assert (got.name, got.config.editing_template_config.title_config.font_size) == ("look 1", 31)
    first = stack.stub.ListTemplates(api.ListTemplatesRequest(max_results=2))
    second = stack.stub.ListTemplates(api.ListTemplatesRequest(max_results=2, next_token=first.next_token))
    listed = [t.template_id for t in [*first.templates, *second.templates]]
    assert set(ids) <= set(listed) and len(listed) == len(set(listed))
    stack.stub.DeleteTemplate(api.DeleteTemplateRequest(template_id=ids[0]))
    with pytest.raises(grpc.RpcError) as gone:
        stack.stub.GetTemplate(api.GetTemplateRequest(template_id=ids[0]))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_variants_render_with_their_template(stack: Stack) -> None:
    small = add(
        stack,
        "small",
        {
            "OutputTemplateConfig": {"Width": 64, "Height": 96},
            "InputTemplateConfig": {
                "StickerArray": [{"MediaURL": f"file://{stack.media_dir}/logo.png", "Opacity": 0.5}]
            },
        },
    )
    large = add(stack, "large", {"OutputTemplateConfig": {"Width": 96, "Height": 128}})
    doc = {
        "InputConfig": {"MediaArray": [f"file://{stack.media_dir}/clip.mp4"]},
        "OutputConfig": {"Count": 6, "FixedDuration": 0.5},
        "TemplateConfig": [small, large],
        "Seed": 3,
    }
    job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/")).job_id
    stack.watch(job_id)
    job = stack.get(job_id)
    assert job.status == "Finished"
    sizes = []
    for sub in job.sub_job_list:
        with av.open(unquote(urlsplit(sub.media_url).path)) as c:
            sizes.append((c.streams.video[0].width, c.streams.video[0].height))
        plan = json.loads(sub.plan)
        assert bool(plan["Stickers"]) == (sizes[-1] == (64, 96))  # the small template's sticker
    assert set(sizes) == {(64, 96), (96, 128)}


def test_an_unknown_template_is_a_bad_field(stack: Stack) -> None:
    doc = {"InputConfig": {"MediaArray": [f"file://{stack.media_dir}/clip.mp4"]}, "TemplateConfig": ["nope"]}
    with pytest.raises(grpc.RpcError) as bad:
        stack.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "TemplateConfig[0]" in str(bad.value.trailing_metadata()) or "nope" in bad.value.details()


def test_the_cli_adds_and_lists_templates(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "look.json"
    config.write_text(json.dumps({"EditingTemplateConfig": {"TitleConfig": {"FontSize": 64}}}))
    base = [sys.executable, "-m", "cli", "template"]
    command = [*base, "add", "--name", "cli look", "--file", str(config), "--gateway", stack.address]
    added = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert added.returncode == 0, added.stderr
    template_id = json.loads(added.stdout)["Template"]["TemplateId"]
    listed = subprocess.run(
        [*base, "list", "--gateway", stack.address], capture_output=True, text=True, timeout=30
    )
    assert template_id in listed.stdout


def test_template_config_is_read_in_ice_form_or_as_a_list() -> None:
    """ICE clients send TemplateConfig as a JSON array in a string; the ICE door and the CLI read it alike."""
    assert template_ids('["t-1", "t-2"]') == ["t-1", "t-2"]
    assert template_ids("t-1, t-2") == ["t-1", "t-2"] and template_ids(" ") == []
    # The CLI (and the console) send ICE's string as it is; the gateway reads it as the ICE door does.
    sent = submit_request({"TemplateConfig": '["a,b", "c"]'}, "/")
    assert sent.template_config_json == '["a,b", "c"]'
    assert list(_with_template_ids(sent).template_config) == ["a,b", "c"]
    assert list(submit_request({"TemplateConfig": ["x"]}, "/").template_config) == ["x"]
    for bad in ('["t-1"', "[1, 2]"):
        with pytest.raises(InvalidArgumentError) as e:
            template_ids(bad)
        assert e.value.violations[0].field == "TemplateConfig"
