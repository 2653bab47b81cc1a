"""A render longer than the ack wait keeps its lease: it is not redelivered and renders once."""

from __future__ import annotations

import json
from pathlib import Path

from cli.client import submit_request
from cli.samples import make_video
from conftest import make_stack


def test_long_render_is_not_redelivered(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, None, REELMILL_ACK_WAIT_S="1.5")
    try:
        make_video(str(stack.media_dir / "long.mp4"), 640, 360, 10.0, fps=30)
        stack.start("gateway")
        stack.start("worker", "worker-1")
        stack.start("worker", "worker-2")  # idle: it would take a redelivery at once
        job = {
            "InputConfig": {"MediaGroupArray": [
                {"GroupName": "g", "MediaArray": [f"file://{stack.media_dir}/long.mp4"], "Duration": 10}]},
            "OutputConfig": {"Width": 1080, "Height": 1920, "Video": {"Preset": "medium"}},
        }  # fmt: skip
        job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(job, "/")).job_id
        changes = stack.watch(job_id)
        final = stack.get(job_id)
    finally:
        stack.close()
    worker_log = stack.log("worker-1") + stack.log("worker-2")
    assert final.status == "Finished", worker_log
    # The render outlived several ack waits (progress was reported in between) ...
    progress = {round(c.editing_batch_job.sub_job_list[0].progress, 2) for c in changes}
    assert len(progress - {0.0, 1.0}) >= 3
    started = json.loads(final.sub_job_list[0].plan)
    assert started["Duration"] == 10
    # ... yet it was delivered once: one attempt, one output.
    assert worker_log.count("attempt 1") == 1 and "attempt 2" not in worker_log
    assert sorted(p.name for p in (stack.output_dir / "default" / job_id).iterdir()) == ["0.jpg", "0.mp4"]
