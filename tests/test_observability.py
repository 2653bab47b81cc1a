"""Metrics and logs of real gateway and worker processes: /metrics, /healthz, JSON lines with job ids."""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.client import submit_request
from cli.natsd import free_port
from cli.samples import make_video
from conftest import make_stack
from gateway.server import metrics_host as metrics_host_of
from gateway.settings import GatewaySettings
from reelmill import logs
from reelmill.metrics_http import MetricsEndpoint
from reelmill.v1 import batch_service_pb2 as api


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_and_json_logs_of_a_finished_job(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, None)
    gateway_port, worker_port = free_port(), free_port()
    try:
        make_video(str(stack.media_dir / "a.mp4"), 320, 240, 1.0)
        stack.start("gateway", None, "--metrics-port", str(gateway_port), "--log-format", "json")
        stack.start("worker", None, "--metrics-port", str(worker_port), "--log-format", "json")
        job = {"InputConfig": {"MediaArray": [f"file://{stack.media_dir}/a.mp4"]},
               "OutputConfig": {"Count": 2, "Width": 160, "Height": 288}}  # fmt: skip
        job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(job, "/"), timeout=10).job_id
        assert stack.watch(job_id)[-1].editing_batch_job.status == "Finished"
        with pytest.raises(Exception, match="NOT_FOUND"):
            stack.get("0" * 32)

        gw = scrape(gateway_port)
        service = "reelmill.v1.BatchMediaProducingService"
        assert gw[("reelmill_jobs_submitted_total", ())] == 1
        assert gw[("reelmill_sub_jobs_finished_total", (("status", "Success"),))] == 2
        assert gw[("reelmill_sub_jobs_finished_total", (("status", "Failed"),))] == 0
        handled = "reelmill_grpc_server_handled_total"
        labels = (
            ("grpc_code", "OK"),
            ("grpc_method", "SubmitBatchMediaProducingJob"),
            ("grpc_service", service),
        )
        assert gw[(handled, labels)] == 1
        labels = (("grpc_code", "NOT_FOUND"), ("grpc_method", "GetBatchMediaProducingJob"),
                  ("grpc_service", service))  # fmt: skip
        assert gw[(handled, labels)] == 1
        zero = ("reelmill_outbox_backlog", "reelmill_outbox_oldest_age_seconds", "reelmill_queue_pending",
                "reelmill_webhook_failures_total")  # fmt: skip
        for gauge in zero:
            assert gw[(gauge, ())] == 0, gauge

        wk = scrape(worker_port)
        assert wk[("reelmill_worker_sub_jobs_finished_total", (("status", "Success"),))] == 2
        assert wk[("reelmill_worker_render_seconds_count", ())] == 2
        assert wk[("reelmill_worker_renders_in_progress", ())] == 0
        kept = [wk[("reelmill_worker_kept_shots_total", (("outcome", o),))] for o in ("hit", "miss")]
        assert kept[1] >= 1 and sum(kept) >= 2, kept  # each variant looked its shot up; the first made it
        assert wk[("reelmill_worker_kept_shots_bytes", ())] > 0
        assert wk[("reelmill_worker_kept_shot_evictions_total", ())] == 0
        for port in (gateway_port, worker_port):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert r.status == 200
    finally:
        stack.close()

    lines = [json.loads(line) for line in stack.log("worker").splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about_job = [line for line in lines if job_id in line["message"]]
    assert about_job and all(line.get("job_id") == job_id and line.get("sub_job_id") for line in about_job)
    gateway_lines = [json.loads(line) for line in stack.log("gateway").splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("gateway listening") for line in gateway_lines)


def test_a_worker_reads_back_the_shots_another_worker_kept_in_their_cache_folder(tmp_path: Path) -> None:
    """Two worker processes with one DATA_DIR (as the pods of a node given one cache folder), one after
    the other: the second takes from the folder the shots the first decoded, as its metrics show."""
    stack = make_stack(tmp_path, None)
    ports = {"first": free_port(), "second": free_port()}
    try:
        make_video(str(stack.media_dir / "a.mp4"), 320, 240, 1.0)
        stack.start("gateway")
        job = {"InputConfig": {"MediaArray": [f"file://{stack.media_dir}/a.mp4"]},
               "OutputConfig": {"Count": 2, "Width": 160, "Height": 288}}  # fmt: skip
        looked_up = {}
        for name, port in ports.items():
            stack.start("worker", name, "--metrics-port", str(port))
            job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(job, "/"), timeout=10).job_id
            assert stack.watch(job_id)[-1].editing_batch_job.status == "Finished"
            wk = scrape(port)
            looked_up[name] = [
                wk[("reelmill_worker_kept_shots_total", (("outcome", o),))] for o in ("hit", "miss")
            ]
            stack.stop(name)
        assert looked_up["first"][1] >= 1  # it decoded the clip's shot and kept it
        assert looked_up["second"][1] == 0 and looked_up["second"][0] >= 2, (
            looked_up
        )  # read back, never decoded
    finally:
        stack.close()


def test_healthz_fails_when_the_event_loop_stalls() -> None:
    endpoint = MetricsEndpoint(0, addr="127.0.0.1", stall_s=0.2)
    port = endpoint.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
        time.sleep(0.3)  # no watchdog ticking: as if the loop were stuck
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert e.value.code == 503
        e.value.close()  # the error holds the response and its socket
    finally:
        endpoint.close()


def _capture(fmt: str) -> tuple[io.StringIO, logging.Logger]:
    out = io.StringIO()
    logs.configure("INFO", fmt, stream=out)
    return out, logging.getLogger("reelmill.test")


@pytest.fixture
def root_logger() -> Iterator[None]:
    """logs.configure replaces the root logger's handlers (pytest's too): put them back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)


@pytest.mark.usefixtures("root_logger")
def test_log_lines_name_the_job_bound_in_their_context() -> None:
    out, log = _capture("json")
    log.info("before")
    with logs.context(job_id="j1", sub_job_id="s1"):
        log.info("inside")
    log.info("after")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["before", "inside", "after"]
    assert "job_id" not in lines[0] and "job_id" not in lines[2]
    assert lines[1]["job_id"] == "j1" and lines[1]["sub_job_id"] == "s1"

    out, log = _capture("text")
    with logs.context(job_id="j2"):
        log.info("hello")
    assert out.getvalue().rstrip().endswith("reelmill.test: hello [job=j2]")


@pytest.mark.usefixtures("root_logger")
def test_log_lines_name_the_request_and_its_tenant() -> None:
    """Issue 14: a gateway's lines carry RequestId and tenant, bound per request (its own task)."""
    import asyncio

    out, log = _capture("json")

    async def request(rid: str, tenant: str) -> None:
        logs.bind_request(request_id=rid)
        log.info("before auth")
        await asyncio.sleep(0)
        logs.bind_request(tenant=tenant)
        log.info("after auth")

    async def both() -> None:
        await asyncio.gather(request("R1", "acme"), request("R2", "globex"))

    asyncio.run(both())
    log.info("outside")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    seen = {(line.get("request_id"), line.get("tenant"), line["message"]) for line in lines}
    assert ("R1", None, "before auth") in seen and ("R1", "acme", "after auth") in seen
    assert ("R2", "globex", "after auth") in seen
    assert (None, None, "outside") in seen


@pytest.mark.usefixtures("root_logger")
def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        logs.configure("INFO", "yaml")


def test_sub_jobs_cancelled_before_any_worker_took_them_are_counted(tmp_path: Path) -> None:
    """No worker: Cancel ends every sub-job at once, and /metrics counts each one."""
    stack = make_stack(tmp_path, None)
    port = free_port()
    try:
        make_video(str(stack.media_dir / "a.mp4"), 320, 240, 1.0)
        stack.start("gateway", None, "--metrics-port", str(port))
        job = {"InputConfig": {"MediaArray": [f"file://{stack.media_dir}/a.mp4"]},
               "OutputConfig": {"Count": 3, "Width": 160, "Height": 288}}  # fmt: skip
        job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(job, "/"), timeout=10).job_id
        stack.stub.CancelBatchMediaProducingJob(
            api.CancelBatchMediaProducingJobRequest(job_id=job_id), timeout=10
        )
        stack.stub.CancelBatchMediaProducingJob(
            api.CancelBatchMediaProducingJobRequest(job_id=job_id), timeout=10
        )
        assert stack.get(job_id).status == "Cancelled"
        counted = scrape(port)
    finally:
        stack.close()
    assert counted[("reelmill_sub_jobs_finished_total", (("status", "Cancelled"),))] == 3  # once each


def test_metrics_listen_where_the_gateway_does() -> None:
    def host(listen: str, metrics_host: str = "") -> str:
        return metrics_host_of(GatewaySettings(listen=listen, metrics_host=metrics_host))

    assert host("127.0.0.1:50051") == "127.0.0.1"  # a local stack keeps its metrics local
    assert host("0.0.0.0:50051") == "" and host("[::]:50051") == ""  # every interface
    assert host("[::1]:50051") == "::1"
    assert host("127.0.0.1:50051", "10.0.0.5") == "10.0.0.5"  # the setting wins
