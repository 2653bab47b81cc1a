"""Fair sharing between tenants (issue 14): renders taken tenant by tenant, a tenant's higher priority
first, each tenant's limits held (concurrent renders by JetStream, queued variants and submits per
minute at Submit with RESOURCE_EXHAUSTED and retry information), on a real stack."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from test_api import write_media
from test_ice_door import Door, new_keys

from cli.client import submit_request
from conftest import Stack, free_port, job_ended, make_stack, small_job_doc, tenant_stub
from gateway.tenants import hash_key
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

KEYS = {"acme": "rmk_acme-fair", "globex": "rmk_globex-fair", "initech": "rmk_initech-fair"}
LIMITS = {"initech": {"concurrent_renders": 1, "queued_variants": 5, "submits_per_minute": 3}}
STARTED = re.compile(r"job (\w+) sub-job \w+ \(variant \d+\), attempt \d+")
RENDERED = re.compile(r"rendered file://\S+/(\w+)/\d+\.mp4")


def stub(stack: Stack, tenant: str) -> api_grpc.BatchMediaProducingServiceStub:
    return tenant_stub(stack, KEYS[tenant])


def submit(stack: Stack, tenant: str, count: int, priority: int = 0) -> str:
    request = submit_request(small_job_doc(stack.media_dir, count), "/")
    request.priority = priority
    return stub(stack, tenant).SubmitBatchMediaProducingJob(request, timeout=30).job_id


def finished(stack: Stack, tenant: str, job_id: str) -> api.EditingBatchJob:
    return job_ended(stack, KEYS[tenant], job_id)


def events(stack: Stack, worker: str = "worker") -> list[tuple[str, str]]:
    """("start" | "end", job id) in the order the worker logged them."""
    found = []
    for line in stack.log(worker).splitlines():
        if m := STARTED.search(line):
            found.append(("start", m[1]))
        elif m := RENDERED.search(line):
            found.append(("end", m[1]))
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("fair")
    keys = tmp / "keys.json"
    entries = [{"tenant": t, "sha256": hash_key(k), **({"limits": LIMITS[t]} if t in LIMITS else {})}
               for t, k in KEYS.items()]  # fmt: skip
    keys.write_text(json.dumps({"keys": entries}))
    s = make_stack(tmp / "stack", None, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(keys),
                   REELMILL_METRICS_PORT=str(free_port()))  # fmt: skip
    try:
        write_media(s.media_dir)
        s.start("gateway")
        yield s
    finally:
        s.close()


def scrape(stack: Stack, path: str) -> str:
    port = stack.env["REELMILL_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def wait_for(check: Any, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def test_a_small_batch_is_not_held_behind_a_large_one(stack: Stack) -> None:
    """acme queues 8 variants, then globex 2, all before any worker runs; one worker with one slot
    then takes them in turns, so globex's two are among the first four (a single FIFO took them 9th
    and 10th). The gateway's /queue (what KEDA scales on) and per-tenant gauges show the backlog."""
    big = submit(stack, "acme", 8)
    small = submit(stack, "globex", 2)
    said = next(line for line in stack.log("gateway").splitlines() if f"submitted job {small}" in line)
    assert "tenant=globex" in said and re.search(r"request=[0-9A-F-]{36}", said), said

    def queued() -> bool:
        try:
            return json.loads(scrape(stack, "/queue"))["lag"] == 10
        except (urllib.error.URLError, ValueError, KeyError):
            return False

    wait_for(queued, "/queue to show the 10 commands waiting")
    metrics = scrape(stack, "/metrics")
    assert 'reelmill_tenant_queue_pending{tenant="acme"} 8.0' in metrics
    assert 'reelmill_tenant_queue_pending{tenant="globex"} 2.0' in metrics

    stack.start("worker", "worker", "--slots", "1")
    assert finished(stack, "globex", small).status == "Finished"
    assert finished(stack, "acme", big).status == "Finished"
    taken = [job for kind, job in events(stack) if kind == "start"]
    assert sorted(taken) == sorted([big] * 8 + [small] * 2), taken
    assert [i for i, job in enumerate(taken) if job == small] == [1, 3], taken
    stack.stop("worker")


def test_within_a_tenant_a_higher_priority_job_goes_first(stack: Stack) -> None:
    low = submit(stack, "acme", 3, priority=1)
    high = submit(stack, "acme", 2, priority=5)
    before = len(events(stack))
    stack.start("worker", "worker", "--slots", "1")
    finished(stack, "acme", low)
    finished(stack, "acme", high)
    taken = [job for kind, job in events(stack)[before:] if kind == "start"]
    assert taken == [high, high, low, low, low], taken
    stack.stop("worker")


def test_a_priority_out_of_range_names_the_field(stack: Stack) -> None:
    request = submit_request(small_job_doc(stack.media_dir, 1), "/")
    request.priority = 9
    with pytest.raises(grpc.RpcError) as e:
        stub(stack, "acme").SubmitBatchMediaProducingJob(request, timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Priority" in (e.value.details() or "")


def quota_details(error: grpc.RpcError) -> tuple[str, float]:
    """The QuotaFailure's description and the RetryInfo's delay of a RESOURCE_EXHAUSTED answer."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    failure, retry = error_details_pb2.QuotaFailure(), error_details_pb2.RetryInfo()
    for detail in status.details:
        if detail.Is(failure.DESCRIPTOR):
            detail.Unpack(failure)
        elif detail.Is(retry.DESCRIPTOR):
            detail.Unpack(retry)
    assert failure.violations and retry.HasField("retry_delay"), status
    return failure.violations[0].description, retry.retry_delay.ToMilliseconds() / 1000


def test_a_tenants_limits_answer_resource_exhausted_with_when_to_retry(stack: Stack) -> None:
    """initech: at most 5 variants queued or rendering, 3 submits a minute, 1 render at a time."""
    first = submit(stack, "initech", 3)
    with pytest.raises(grpc.RpcError) as e:
        submit(stack, "initech", 3)  # 3 queued + 3 > 5
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    description, delay = quota_details(e.value)
    assert description.startswith("queued_variants:") and "3 variants queued" in description
    assert delay > 0
    # Another tenant is not touched by initech's limits.
    submit(stack, "globex", 1)

    second = submit(stack, "initech", 1)
    third = submit(stack, "initech", 1)  # 5 of 5 variants, the 3rd submit of 3 this minute: allowed
    with pytest.raises(grpc.RpcError) as e:
        submit(stack, "initech", 1)  # the 4th submit of the minute (the refused one did not count)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    description, delay = quota_details(e.value)
    assert description.startswith("submits_per_minute:")
    assert 0 < delay <= 60

    # One render at a time for initech although the worker has two slots: JetStream holds the limit.
    before = len(events(stack))
    stack.start("worker", "worker", "--slots", "2")
    for job in (first, second, third):
        finished(stack, "initech", job)
    mine = [kind for kind, job in events(stack)[before:] if job in (first, second, third)]
    assert mine == ["start", "end"] * 5, mine
    stack.stop("worker")


def test_the_ice_door_answers_throttling_with_its_code(tmp_path: Path) -> None:
    """ICE's SDK sees ICE's own throttling code, with HTTP 429 (and Retry-After: test_ice_errors)."""
    port = free_port()
    stack = make_stack(tmp_path, None, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(tmp_path / "keys.json"),
                       REELMILL_ACCESS_KEY_MASTER_FILE=str(tmp_path / "master.key"),
                       REELMILL_ICE_LISTEN=f"127.0.0.1:{port}",
                       REELMILL_TENANT_SUBMITS_PER_MINUTE="1")  # fmt: skip
    try:
        door = Door(stack, port, {"acme": new_keys(stack, "acme")}, 0)
        write_media(stack.media_dir)
        stack.start("gateway")
        doc = small_job_doc(stack.media_dir, 1)
        request = ice.SubmitBatchMediaProducingJobRequest(
            input_config=json.dumps(doc["InputConfig"]), output_config=json.dumps(doc["OutputConfig"])
        )
        assert door.client().submit_batch_media_producing_job(request).body.job_id
        with pytest.raises(ClientException) as e:
            door.client().submit_batch_media_producing_job(request)
        assert (e.value.status_code, e.value.code) == (429, "Throttling.User")
        assert "limit is 1 per minute" in e.value.message
    finally:
        stack.close()
