"""Faults with real parts: killed workers, a stopped nats-server, a restarted gateway, poison commands.

Each test asserts the end state the reliability promises (docs/reliability.md): nothing lost,
nothing rendered twice, every batch terminal.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from tcp_proxy import TcpProxy

from cli.client import submit_request
from cli.samples import make_video
from conftest import Stack, make_stack
from reelmill.v1 import batch_service_pb2 as api

FAST = {"REELMILL_ACK_WAIT_S": "2", "REELMILL_SWEEP_INTERVAL_S": "1", "REELMILL_STALL_AFTER_S": "3"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(tmp_path, None, **FAST)
    make_video(str(s.media_dir / "clip.mp4"), 320, 240, 6.0)
    try:
        yield s
    finally:
        s.close()


def job(stack: Stack, count: int = 1, size: tuple[int, int] = (160, 288), seconds: float = 1.0,
        preset: str = "veryfast", media_url: str = "") -> dict:  # fmt: skip
    output: dict = {"Count": count, "Width": size[0], "Height": size[1], "Video": {"Preset": preset}}
    if media_url:
        output["MediaURL"] = media_url
    return {
        "InputConfig": {"MediaGroupArray": [
            {"GroupName": "g", "MediaArray": [f"file://{stack.media_dir}/clip.mp4"], "Duration": seconds}]},
        "OutputConfig": output,
    }  # fmt: skip


def submit(stack: Stack, doc: dict) -> str:
    return stack.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"), timeout=10).job_id


def wait_for(what: Callable[[], bool], timeout_s: float = 60, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s")


def rendering(stack: Stack, job_id: str, at_least: float = 0.05) -> Callable[[], bool]:
    return lambda: any(
        s.status == "Processing" and s.progress >= at_least for s in stack.get(job_id).sub_job_list
    )


def started(stack: Stack, job_id: str) -> Callable[[], bool]:
    return lambda: any(s.status != "Init" for s in stack.get(job_id).sub_job_list)


def outputs(stack: Stack, job_id: str) -> list[str]:
    """The job's files, but for the poster beside each video (x.jpg for x.mp4): leftovers show."""
    folder = stack.output_dir / "default" / job_id
    names = {p.name for p in folder.iterdir()} if folder.exists() else set()
    return sorted(n for n in names if not (n.endswith(".jpg") and n[:-4] + ".mp4" in names))


def test_a_worker_killed_mid_render_is_replaced_and_each_variant_renders_once(stack: Stack) -> None:
    stack.start("gateway")
    stack.start("worker", "w1")
    job_id = submit(stack, job(stack, count=2, size=(720, 1280), seconds=5, preset="medium"))
    wait_for(rendering(stack, job_id))
    stack.stop("w1", signal.SIGKILL)
    stack.start("worker", "w2")
    stack.watch(job_id)
    final = stack.get(job_id)
    assert final.status == "Finished", stack.log("w2")
    assert [s.status for s in final.sub_job_list] == ["Success", "Success"]
    assert outputs(stack, job_id) == ["0.mp4", "1.mp4"]  # no leftovers of the killed attempt
    assert "attempt 2" in stack.log("w2")  # the killed render was delivered again


def test_submit_while_nats_is_down_succeeds_and_runs_when_it_is_back(stack: Stack) -> None:
    stack.start("gateway")
    stack.start("worker")
    stack.nats.stop()
    job_ids = [submit(stack, job(stack, count=2)) for _ in range(3)]
    assert {stack.get(j).status for j in job_ids} == {"Init"}
    stack.nats.start()
    for j in job_ids:
        stack.watch(j)
        assert stack.get(j).status == "Finished"
        assert outputs(stack, j) == ["0.mp4", "1.mp4"]


def test_nats_restarted_mid_batch(stack: Stack) -> None:
    stack.start("gateway")
    stack.start("worker")
    job_id = submit(stack, job(stack, count=4, size=(720, 1280), seconds=3))
    wait_for(started(stack, job_id))
    stack.nats.stop()
    time.sleep(1)
    stack.nats.start()
    stack.watch(job_id)
    final = stack.get(job_id)
    assert final.status == "Finished"
    assert [s.status for s in final.sub_job_list] == ["Success"] * 4
    assert outputs(stack, job_id) == ["0.mp4", "1.mp4", "2.mp4", "3.mp4"]


def test_gateway_killed_and_restarted_mid_batch(stack: Stack) -> None:
    stack.start("gateway")
    stack.start("worker")
    job_id = submit(stack, job(stack, count=3, size=(720, 1280), seconds=3))
    stream = stack.stub.WatchBatchMediaProducingJob(api.WatchBatchMediaProducingJobRequest(job_id=job_id))
    assert next(stream).editing_batch_job.job_id == job_id
    wait_for(started(stack, job_id))
    stack.stop("gateway", signal.SIGKILL)
    with pytest.raises(grpc.RpcError) as lost:
        for _ in stream:
            pass
    assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
    time.sleep(2)  # renders finish and report while no gateway listens
    stack.start("gateway")
    changes = stack.watch(job_id)  # a Watch client reconnects and sees the end
    assert changes[-1].editing_batch_job.status == "Finished"
    assert [s.status for s in stack.get(job_id).sub_job_list] == ["Success"] * 3


def test_a_command_that_crashes_every_worker_fails_after_max_deliver(stack: Stack) -> None:
    stack.env["REELMILL_MAX_DELIVER"] = "2"
    stack.start("gateway")
    job_id = submit(stack, job(stack, size=(720, 1280), seconds=5, preset="medium"))
    for attempt in (1, 2):
        stack.start("worker", f"w{attempt}")
        wait_for(lambda: f"attempt {attempt}" in stack.log(f"w{attempt}"))  # noqa: B023
        stack.stop(f"w{attempt}", signal.SIGKILL)
    # JetStream gives up on the command (and says so) when the next worker asks for work.
    stack.start("worker", "w3")
    changes = stack.watch(job_id, timeout_s=30)
    final = changes[-1].editing_batch_job
    assert final.status == "Failed"
    sub = final.sub_job_list[0]
    assert (sub.status, sub.error_code) == ("Failed", "Internal")
    assert "2 attempts" in sub.error_message
    # The poison command left the queue: a new job runs at once, and the command is never tried again.
    healthy = submit(stack, job(stack))
    stack.watch(healthy)
    assert stack.get(healthy).status == "Finished"
    assert "attempt 3" not in stack.log("w3")


def test_a_render_that_keeps_failing_fails_with_a_code_and_the_worker_stays_up(stack: Stack) -> None:
    stack.env["REELMILL_MAX_DELIVER"] = "2"
    (stack.output_dir / "default").mkdir(exist_ok=True)
    (stack.output_dir / "default" / "blocker").write_text("a file where a folder should be")
    stack.start("gateway")
    worker = stack.start("worker")
    bad = submit(stack, job(stack, media_url=f"file://{stack.output_dir}/default/blocker/out.mp4"))
    good = submit(stack, job(stack))
    for j in (bad, good):
        stack.watch(j)
    sub = stack.get(bad).sub_job_list[0]
    assert stack.get(bad).status == "Failed"
    assert (sub.status, sub.error_code) == ("Failed", "Output.WriteFailed")
    assert json.loads(sub.plan)["Duration"] == 1  # the plan made before it failed is shown
    assert stack.get(good).status == "Finished"
    assert worker.poll() is None


def test_sigterm_lets_a_short_render_finish(stack: Stack) -> None:
    stack.start("gateway")
    worker = stack.start("worker")
    job_id = submit(stack, job(stack, size=(480, 854), seconds=2))
    wait_for(started(stack, job_id))
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    assert stack.get(job_id).sub_job_list[0].status == "Success"


def test_sigterm_past_the_grace_hands_the_render_to_another_worker(stack: Stack) -> None:
    stack.env["REELMILL_SHUTDOWN_GRACE_S"] = "0.5"
    stack.start("gateway")
    leaving = stack.start("worker", "leaving")
    job_id = submit(stack, job(stack, size=(1080, 1920), seconds=6, preset="medium"))
    wait_for(rendering(stack, job_id))
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(30) == 0
    assert "handed back" in stack.log("leaving")
    assert outputs(stack, job_id) == []  # no partial file at or beside the output
    stack.env["REELMILL_SHUTDOWN_GRACE_S"] = "30"
    stack.start("worker", "taking-over")
    stack.watch(job_id)
    assert stack.get(job_id).status == "Finished"
    assert outputs(stack, job_id) == ["0.mp4"]


@pytest.mark.postgres
def test_database_unreachable_at_submit_is_unavailable_and_writes_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    stack = make_stack(tmp_path, pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
    try:
        make_video(str(stack.media_dir / "clip.mp4"), 320, 240, 1.0)
        stack.start("gateway")
        before = stack.stub.ListBatchMediaProducingJobs(
            api.ListBatchMediaProducingJobsRequest(max_results=100)
        )
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            submit(stack, job(stack, count=3))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 5
        proxy.restore()
        after = stack.stub.ListBatchMediaProducingJobs(
            api.ListBatchMediaProducingJobsRequest(max_results=100)
        )
        assert after.editing_batch_job_list == before.editing_batch_job_list  # nothing half written
        assert stack.get(submit(stack, job(stack))).status == "Init"  # and it works again
    finally:
        stack.close()
        proxy.close()


def test_a_render_past_its_time_limit_fails_and_is_not_retried(stack: Stack) -> None:
    stack.env["REELMILL_RENDER_TIMEOUT_S"] = "1.5"
    stack.start("gateway")
    worker = stack.start("worker")
    job_id = submit(stack, job(stack, size=(1080, 1920), seconds=6, preset="medium"))
    stack.watch(job_id)
    sub = stack.get(job_id).sub_job_list[0]
    assert (sub.status, sub.error_code) == ("Failed", "Internal")
    assert "limit of 1.5 s" in sub.error_message
    assert outputs(stack, job_id) == []
    assert worker.poll() is None  # the render stopped at its next frame batch: the worker goes on
    assert "attempt 2" not in stack.log("worker")
