"""The example jobs are valid ICE documents, and the full one renders with every feature in its plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest

from cli.client import submit_request
from cli.samples import write_example_media
from gateway.validate import Roots, validate_submit
from reelmill.v1 import render_pb2
from worker.job import JobState, run_job
from worker.settings import WorkerSettings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    for job in EXAMPLES.glob("*.json"):
        shutil.copy(job, folder / job.name)
    write_example_media(folder / "media")
    (folder / "out").mkdir()
    return folder


@pytest.mark.parametrize("name", ["job.json", "full-job.json"])
def test_examples_are_valid_jobs(folder: Path, name: str) -> None:
    doc = json.loads((folder / name).read_text(encoding="utf-8"))
    job = validate_submit(
        submit_request(doc, str(folder)), Roots((str(folder / "media"),), str(folder / "out"))
    )
    assert job.job_type == "Script" and job.count >= 4


def test_the_full_example_uses_every_feature(folder: Path) -> None:
    doc = json.loads((folder / "full-job.json").read_text(encoding="utf-8"))
    job = validate_submit(
        submit_request(doc, str(folder)), Roots((str(folder / "media"),), str(folder / "out"))
    )
    output = job.output_config
    output.width, output.height = 180, 320  # small, to stay quick
    settings = WorkerSettings(media_roots=(str(folder / "media"),), output_dir=str(folder / "out"))
    plans = []
    for index in (0, 1):
        cmd = render_pb2.RenderCommand(
            batch_id="full", sub_job_id=f"full-{index}", index=index, count=job.count, seed=job.seed or 0,
            input_config=job.input_config, editing_config=job.editing_config, output_config=output,
        )  # fmt: skip
        state = JobState()
        done = run_job(cmd, settings, state)
        plans.append(json.loads(state.plan_json))
        with av.open(done.media_url.removeprefix("file://")) as c:
            assert sum(1 for _ in c.decode(video=0)) == round(plans[-1]["Duration"] * 30)
    a, b = plans
    assert a["Speech"][0]["Text"] != b["Speech"][0]["Text"] and a["Music"]["Media"] != b["Music"]["Media"]
    assert a["Background"]["Media"] != b["Background"]["Media"]
    for plan in plans:
        kinds = {t["Kind"] for t in plan["Texts"]}
        assert {"Title", "SubHeading1", "SubHeading2"} <= kinds
        assert plan["Duration"] == pytest.approx(plan["Speech"][0]["Duration"], abs=1 / 30)
        assert plan["Stickers"][0]["Opacity"] == 0.85 and plan["Music"]["Volume"] == 0.25
        assert plan["Background"]["SubType"] == "Image" and plan["Filter"] in ("warm", "vivid", "vintage")
        assert [s["Group"] for s in plan["Shots"]][:3] == ["opening", "product", "closing"]
    shots = [s for p in plans for s in p["Shots"]]
    assert any("Transition" in s for s in shots) and any("Effect" in s for s in shots)
