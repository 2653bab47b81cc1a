"""A dry run (issue 16, item 7): every variant's plan and a render-time estimate from a real worker,
nothing stored or queued."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from cli.client import submit_request
from cli.samples import make_music, make_video
from conftest import make_stack
from reelmill.v1 import batch_service_pb2 as api


def seed_like(media: Path, count: int = 20) -> dict:
    """The job model's §10 shape: 2 groups of 2 clips, 2 titles, 2 texts spoken by the real engine."""
    group = lambda name, files: {"GroupName": name, "MediaArray": [f"file://{media}/{f}" for f in files]}  # noqa: E731
    return {
        "InputConfig": {
            "MediaGroupArray": [
                group("opening", ["o1.mp4", "o2.mp4"]), group("product", ["p1.mp4", "p2.mp4"]),
            ],
            "TitleArray": ["新品上市", "限时特惠 🎉"],
            "SpeechTextArray": [
                "欢迎来到我们的新品发布会。这款产品轻巧耐用，适合每一天。", "限时优惠，现在下单立享八折。",
            ],
            "BackgroundMusicArray": [f"file://{media}/music.m4a"],
        },
        "EditingConfig": {"BackgroundMusicConfig": {"Volume": 0.3}},
        "OutputConfig": json.dumps({"Count": count, "MaxDuration": 15, "Width": 1080, "Height": 1920}),
        "Seed": 10,
    }  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = make_stack(tmp_path, None)
    for i, name in enumerate(["o1.mp4", "o2.mp4", "p1.mp4", "p2.mp4"]):
        make_video(str(s.media_dir / name), 320, 180, 9.0, tone_hz=300 + 100 * i)
    make_music(str(s.media_dir / "music.m4a"), 4.0)
    s.start("gateway")
    s.start("worker")
    yield s
    s.close()


def test_a_dry_run_plans_every_variant_and_queues_nothing(stack) -> None:  # type: ignore[no-untyped-def]
    request = api.PlanBatchMediaProducingJobRequest(job=submit_request(seed_like(stack.media_dir), "/"))
    stack.stub.PlanBatchMediaProducingJob(request, timeout=60)  # the first one warms the speech cache
    started = time.monotonic()
    done = stack.stub.PlanBatchMediaProducingJob(request, timeout=60)
    took = time.monotonic() - started
    print(f"dry run of 20 variants: {took:.2f} s")  # measured, not asserted (see the closing notes)
    assert len(done.plans) == 20 and [p.index for p in done.plans] == list(range(20))
    assert done.combinations == 16 and "Count 20 is more than the 16 combinations" in done.warnings[0]
    for p in done.plans:
        plan = json.loads(p.plan)
        assert plan["Index"] == p.index and plan["Output"]["Width"] == 1080
        assert all(s["Speed"] == 1 for s in plan["Shots"])  # footage at its own speed
        speech = plan["Speech"][0]
        assert speech["Duration"] > 2 and plan["Duration"] == pytest.approx(speech["Duration"], abs=0.05)
        texts = [t for t in plan["Texts"] if t["Kind"] == "Title"]
        assert texts and len(texts[0]["Box"]) == 4 and "MissingGlyphs" not in texts[0]
        assert p.render_seconds > 0
    assert done.render_seconds == pytest.approx(sum(p.render_seconds for p in done.plans), abs=0.05)
    # The same seed plans the same batch: 20 variants, none repeating (pieces of the 9 s clips differ).
    again = stack.stub.PlanBatchMediaProducingJob(request, timeout=60)
    strip = lambda plans: [{k: v for k, v in json.loads(p.plan).items() if k != "Speech"} for p in plans]  # noqa: E731
    assert strip(again.plans) == strip(done.plans)
    assert not any(p.HasField("repeat_of") for p in done.plans)
    # Nothing was stored or queued.
    listed = stack.stub.ListBatchMediaProducingJobs(api.ListBatchMediaProducingJobsRequest(), timeout=10)
    assert list(listed.editing_batch_job_list) == []


def test_a_dry_run_names_what_a_render_would_fail_on(stack) -> None:  # type: ignore[no-untyped-def]
    doc = seed_like(stack.media_dir, count=2)
    doc["InputConfig"]["MediaGroupArray"][0]["MediaArray"] = [f"file://{stack.media_dir}/missing.mp4"]
    request = api.PlanBatchMediaProducingJobRequest(job=submit_request(doc, "/"))
    with pytest.raises(grpc.RpcError) as e:
        stack.stub.PlanBatchMediaProducingJob(request, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "InvalidMaterial.NotFound" in (e.value.details() or "")


def test_the_cli_dry_run_prints_the_plans(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(seed_like(stack.media_dir, count=3), ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "submit", str(job_file), "--dry-run", "--gateway", stack.address],
        env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert [p.get("Index", 0) for p in printed["Plans"]] == [0, 1, 2] and printed["RenderSeconds"] > 0
    listed = stack.stub.ListBatchMediaProducingJobs(api.ListBatchMediaProducingJobsRequest(), timeout=10)
    assert list(listed.editing_batch_job_list) == []
