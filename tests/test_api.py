"""The gRPC contract (spec §1, §2, §9) against real processes: a gateway, nats-server, a worker, a database.

Stacks are module-scoped where tests can share them: `idle` has no worker (jobs stay Init), `busy` has one.
Tests that start a worker half-way, or pause nats-server, get a stack of their own.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import grpc
import nats
import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cli.client import submit_request
from cli.samples import make_image, make_video
from conftest import Stack, make_stack, pg_schema, small_job_doc
from reelmill import topology
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import job_config_pb2 as cfg

WIDTH, HEIGHT = 160, 288
BATCH_RANK = {"Init": 0, "Processing": 1, "Finished": 2, "Failed": 2, "Cancelled": 2}
SUB_RANK = {"Init": 0, "Processing": 1, "Success": 2, "Failed": 2, "Cancelled": 2}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SQLITE_POSTGRES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# -- helpers --------------------------------------------------------------------------------------------


def write_media(media: Path, long_clip: bool = False) -> None:
    make_video(str(media / "a.mp4"), 320, 240, 1.5)
    make_video(str(media / "b.mp4"), 320, 240, 1.5, tone_hz=550, with_audio=False)
    make_image(str(media / "still.png"), 320, 240)
    if long_clip:
        make_video(str(media / "long.mp4"), 320, 240, 21.0, gop=50)


def job_doc(media: Path, count: int = 1, **output: Any) -> dict[str, Any]:
    """A small Script job: two groups, 1.5 s per variant at 160x288."""
    return small_job_doc(media, count, WIDTH, HEIGHT, **output)


def smart_mix_doc(media: Path) -> dict[str, Any]:
    return {
        "InputConfig": {"MediaArray": [f"file://{media}/a.mp4", f"file://{media}/still.png"]},
        "OutputConfig": {"Count": 1, "Width": WIDTH, "Height": HEIGHT, "MaxDuration": 2},
    }


def submit(stack: Stack, doc: dict[str, Any]) -> str:
    return stack.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"), timeout=30).job_id


def cancel(stack: Stack, job_id: str) -> api.EditingBatchJob:
    request = api.CancelBatchMediaProducingJobRequest(job_id=job_id)
    return stack.stub.CancelBatchMediaProducingJob(request, timeout=30).editing_batch_job


def list_page(stack: Stack, **fields: Any) -> api.ListBatchMediaProducingJobsResponse:
    return stack.stub.ListBatchMediaProducingJobs(
        api.ListBatchMediaProducingJobsRequest(**fields), timeout=30
    )


def list_ids(stack: Stack, **fields: Any) -> list[str]:
    """Every job id the filter matches, page after page."""
    ids: list[str] = []
    token = ""
    for _ in range(1000):
        page = list_page(stack, max_results=100, next_token=token, **fields)
        ids += [j.job_id for j in page.editing_batch_job_list]
        token = page.next_token
        if not token:
            return ids
    raise AssertionError("List never ended")


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def violations(err: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) of the google.rpc.BadRequest detail of an INVALID_ARGUMENT error."""
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err  # type: ignore[attr-defined]
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    found: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.description) for v in bad.field_violations]
    assert found, f"no BadRequest field violations in {status}"
    return found


def error_reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 30, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def bus_backlog(stack: Stack) -> tuple[int, int]:
    """(render commands a worker has not acknowledged, render events the gateway has not acknowledged)."""

    async def read() -> tuple[int, int]:
        nc = await nats.connect(stack.nats.url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream(timeout=5)
            queues = await js.consumers_info(topology.COMMAND_STREAM)  # every tenant's, and the legacy one
            evts = await js.consumer_info(topology.EVENT_STREAM, topology.GATEWAY_CONSUMER)
            commands = sum(int(q.num_pending or 0) + int(q.num_ack_pending or 0) for q in queues)
            return (commands, evts.num_pending + evts.num_ack_pending)
        finally:
            await nc.close()

    return asyncio.run(read())


def output_files(stack: Stack) -> list[Path]:
    return sorted(p for p in stack.output_dir.rglob("*") if p.is_file())


def sqlite_unpublished(stack: Stack) -> int:
    """Outbox rows the gateway has not yet published (SQLite stacks only)."""
    path = stack.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])


@contextmanager
def running_stack(tmp: Path, backend: str, worker: bool, long_clip: bool = False) -> Iterator[Stack]:
    with pg_schema() if backend == "postgres" else _no_database() as db_url:
        stack = make_stack(tmp, db_url)
        try:
            write_media(stack.media_dir, long_clip)
            stack.start("gateway")
            if worker:
                stack.start("worker")
            yield stack
        finally:
            stack.close()


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


def path_of(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


# -- stacks ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=SQLITE_POSTGRES)
def idle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway without a worker: submitted jobs stay Init unless cancelled."""
    with running_stack(tmp_path_factory.mktemp(f"idle-{request.param}"), request.param, worker=False) as s:
        yield s


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway with one worker."""
    with running_stack(tmp_path_factory.mktemp("busy"), "sqlite", worker=True, long_clip=True) as s:
        yield s


# -- 1. validation ----------------------------------------------------------------------------------------


# The whole table of bad requests is tests/gateway/test_validate.py's (pure and fast); here a few of
# them cross the wire, to show the field violations arrive as google.rpc.BadRequest and nothing is stored.
def _malformed_input(doc: dict[str, Any], media: Path) -> None:
    # ICE's own example: no comma between the two speech texts. Sent as the JSON string a client wrote.
    group = json.dumps({"GroupName": "g", "MediaArray": [f"file://{media}/a.mp4"]})
    doc["InputConfig"] = f'{{"MediaGroupArray": [{group}], "SpeechTextArray": ["first text" "second text"]}}'


WIRE_CASES = [
    ("malformed-json-string", _malformed_input, "InputConfig", "malformed JSON"),
    ("count-0", lambda d, m: d["OutputConfig"].update(Count=0), "OutputConfig.Count", "1–100"),
    ("templates", lambda d, m: d.update(TemplateConfig=["t-1"]), "TemplateConfig[0]", "no template"),
]


@pytest.mark.parametrize(
    ("change", "field", "says"), [c[1:] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES]
)
def test_invalid_submit_names_the_field_and_stores_nothing(
    idle: Stack, change: Callable[[dict[str, Any], Path], None], field: str, says: str
) -> None:
    before = list_ids(idle)
    doc = job_doc(idle.media_dir)
    change(doc, idle.media_dir)

    err = rpc_error(lambda: submit(idle, doc))

    found = violations(err)
    matching = [d for f, d in found if f == field]
    assert matching, f"no violation of {field}; got {found}"
    assert any(says in d for d in matching), f"{field}: {matching} do not say {says!r}"
    assert error_reason(err) == "INVALID_ARGUMENT"
    assert list_ids(idle) == before, "a rejected submit stored a job"


def test_unknown_fields_are_ignored_and_the_response_lists_them(idle: Stack) -> None:
    doc = job_doc(idle.media_dir, Colour="red")
    response = idle.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"), timeout=30)
    assert list(response.ignored_fields) == ["OutputConfig.Colour"]
    assert idle.get(response.job_id).status == "Init"


def test_an_ice_document_sent_in_the_json_mapping_works_as_it_is(idle: Stack) -> None:
    """What grpcurl -d sends: ICE's names, configs as JSON strings, TemplateConfig as a JSON string."""
    doc = job_doc(idle.media_dir)
    ice = {name: json.dumps(doc[name]) for name in ("InputConfig", "OutputConfig")}
    request = json_format.ParseDict(ice, api.SubmitBatchMediaProducingJobRequest())
    job_id = idle.stub.SubmitBatchMediaProducingJob(request, timeout=30).job_id
    assert idle.get(job_id).output_config.width == WIDTH
    request = json_format.ParseDict(
        {**ice, "TemplateConfig": '["t-9"]'}, api.SubmitBatchMediaProducingJobRequest()
    )
    found = violations(rpc_error(lambda: idle.stub.SubmitBatchMediaProducingJob(request, timeout=30)))
    assert found[0][0] == "TemplateConfig[0]"  # the string form was read as ICE's list of ids


def test_an_mns_queue_as_notify_address_is_accepted_and_reported(idle: Stack) -> None:
    doc = job_doc(idle.media_dir)
    doc["UserData"] = json.dumps({"NotifyAddress": "ice-callback-demo"})
    job = idle.get(submit(idle, doc))
    assert any(s.startswith("UserData.NotifyAddress: ice-callback-demo → not delivered")
               for s in job.extend.substitutions)  # fmt: skip


def test_a_valid_job_passes_the_same_checks(idle: Stack) -> None:
    """The base of the table above is valid, so each case fails for its own change only."""
    doc = job_doc(idle.media_dir)
    doc["EditingConfig"] = {"MediaConfig": {"Volume": "0.5"}, "ProcessConfig": {"TransitionList": ["fade"]}}
    doc["ClientToken"] = "k" * 64
    doc["UserData"] = json.dumps({"k": "视" * 160}, ensure_ascii=False)  # 489 bytes of UTF-8
    job_id = submit(idle, doc)
    job = idle.get(job_id)
    assert job.status == "Init" and len(job.sub_job_list) == 1
    assert job.editing_config.media_config.volume == 0.5


# -- 2. ClientToken ---------------------------------------------------------------------------------------


def test_same_token_and_request_gives_the_first_job(idle: Stack) -> None:
    before = set(list_ids(idle))
    doc = dict(job_doc(idle.media_dir, count=2), ClientToken=f"same-{uuid.uuid4().hex}")

    first, second = submit(idle, doc), submit(idle, doc)

    assert first == second
    assert set(list_ids(idle)) - before == {first}


def test_same_token_typed_or_json_configs_is_the_same_request(idle: Stack) -> None:
    """Configs given typed or as JSON text are one request: the hash is taken after parsing."""
    doc = dict(job_doc(idle.media_dir), ClientToken=f"typed-{uuid.uuid4().hex}")
    as_json = submit_request(doc, "/")
    typed = api.SubmitBatchMediaProducingJobRequest(client_token=doc["ClientToken"])
    json_format.ParseDict(doc["InputConfig"], typed.input_config)
    json_format.ParseDict(doc["OutputConfig"], typed.output_config)

    first = idle.stub.SubmitBatchMediaProducingJob(as_json, timeout=30).job_id
    second = idle.stub.SubmitBatchMediaProducingJob(typed, timeout=30).job_id

    assert first == second


def test_same_token_with_another_request_is_already_exists(idle: Stack) -> None:
    token = f"mismatch-{uuid.uuid4().hex}"
    first = submit(idle, dict(job_doc(idle.media_dir), ClientToken=token))
    before = list_ids(idle)

    for other in (job_doc(idle.media_dir, count=2), dict(job_doc(idle.media_dir), UserData='{"a": 1}')):
        err = rpc_error(lambda other=other: submit(idle, dict(other, ClientToken=token)))
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS, err
        assert error_reason(err) == "IdempotentParameterMismatch"

    assert list_ids(idle) == before
    assert idle.get(first).output_config.count == 1


def test_concurrent_submits_with_one_new_token_make_one_job(idle: Stack) -> None:
    before = set(list_ids(idle))
    doc = dict(job_doc(idle.media_dir, count=3), ClientToken=f"race-{uuid.uuid4().hex}")
    barrier = threading.Barrier(10)

    def one() -> str:
        barrier.wait(timeout=10)
        return submit(idle, doc)

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = [f.result() for f in [pool.submit(one) for _ in range(10)]]

    assert len(set(ids)) == 1, ids
    assert set(list_ids(idle)) - before == {ids[0]}
    assert len(idle.get(ids[0]).sub_job_list) == 3


# -- 3. List ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seven:
    """Seven jobs made one after another: 2 and 5 are Smart_Mix, 1 and 4 are Cancelled, the rest Init."""

    ids: list[str]
    created: list[Timestamp]

    def window(self) -> dict[str, Timestamp]:
        """StartTime/EndTime that hold exactly these seven."""
        end = Timestamp()
        end.FromNanoseconds(self.created[-1].ToNanoseconds() + 1000)
        return {"start_time": self.created[0], "end_time": end}


@pytest.fixture(scope="module")
def seven(idle: Stack) -> Seven:
    ids = []
    for i in range(7):
        ids.append(submit(idle, smart_mix_doc(idle.media_dir) if i in (2, 5) else job_doc(idle.media_dir)))
    for i in (1, 4):
        assert cancel(idle, ids[i]).status == "Cancelled"
    created = [idle.get(i).create_time for i in ids]
    assert [t.ToNanoseconds() for t in created] == sorted(t.ToNanoseconds() for t in created)
    return Seven(ids, created)


def _pages(stack: Stack, size: int, **fields: Any) -> list[list[api.EditingBatchJob]]:
    pages, token = [], ""
    while True:
        page = list_page(stack, max_results=size, next_token=token, **fields)
        assert page.max_results == size
        pages.append(list(page.editing_batch_job_list))
        token = page.next_token
        if not token:
            return pages
        assert len(pages) < 100


def test_list_pages_newest_first_by_default(idle: Stack, seven: Seven) -> None:
    pages = _pages(idle, 3, **seven.window())
    assert [len(p) for p in pages] == [3, 3, 1]
    ids = [j.job_id for p in pages for j in p]
    assert ids == seven.ids[::-1]
    times = [j.create_time.ToNanoseconds() for p in pages for j in p]
    assert times == sorted(times, reverse=True)


def test_list_pages_oldest_first_with_sort_by_asc(idle: Stack, seven: Seven) -> None:
    pages = _pages(idle, 3, sort_by="asc", **seven.window())
    assert [j.job_id for p in pages for j in p] == seven.ids


def test_list_pages_over_everything_give_each_job_once(idle: Stack, seven: Seven) -> None:
    for sort_by in ("", "asc"):
        ids = [j.job_id for p in _pages(idle, 3, sort_by=sort_by) for j in p]
        assert len(ids) == len(set(ids)), "a job on two pages"
        assert set(seven.ids) <= set(ids)
        assert ids == list_ids(idle, sort_by=sort_by)


def test_list_items_have_no_sub_jobs(idle: Stack, seven: Seven) -> None:
    items = list_page(idle, max_results=7, **seven.window()).editing_batch_job_list
    assert len(items) == 7
    assert all(len(j.sub_job_list) == 0 for j in items)
    assert all(len(idle.get(j.job_id).sub_job_list) == 1 for j in items)
    assert all(j.input_config.ByteSize() > 0 and j.HasField("create_time") for j in items)


def test_list_filters(idle: Stack, seven: Seven) -> None:
    s, w = seven.ids, seven.window()

    def ids(**fields: Any) -> list[str]:
        return list_ids(idle, sort_by="asc", **fields)

    assert ids(status="Cancelled", **w) == [s[1], s[4]]
    assert ids(status="Init", **w) == [s[0], s[2], s[3], s[5], s[6]]
    assert ids(status="Finished", **w) == []
    assert ids(job_type="Smart_Mix", **w) == [s[2], s[5]]
    assert ids(job_type="Script", **w) == [s[0], s[1], s[3], s[4], s[6]]
    assert ids(job_type="Smart_Mix", status="Init", **w) == [s[2], s[5]]
    assert ids(job_id=s[3]) == [s[3]]
    assert ids(job_id=uuid.uuid4().hex) == []
    # StartTime inclusive, EndTime exclusive.
    assert ids(start_time=seven.created[3], end_time=seven.created[5]) == [s[3], s[4]]
    from_last = ids(start_time=seven.created[6])
    assert from_last[0] == s[6] and not set(s[:6]) & set(from_last)
    before_last = ids(end_time=seven.created[6])
    assert before_last[-6:] == s[:6] and s[6] not in before_last


def test_list_max_results_defaults_to_10(idle: Stack, seven: Seven) -> None:
    total = len(list_ids(idle))
    page = list_page(idle, max_results=0)
    assert page.max_results == 10
    assert len(page.editing_batch_job_list) == min(10, total)
    assert bool(page.next_token) == (total > 10)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"max_results": 101}, "MaxResults"),
        ({"max_results": -1}, "MaxResults"),
        ({"sort_by": "newest"}, "SortBy"),
        ({"status": "Success"}, "Status"),
        ({"job_type": "Montage"}, "JobType"),
        ({"next_token": "not a token!"}, "NextToken"),
        ({"next_token": "eyJ0IjogMX0"}, "NextToken"),  # base64 of {"t": 1}
    ],
    ids=["max-101", "max-negative", "sort-by", "status", "job-type", "token-garbage", "token-forged"],
)
def test_list_rejects_bad_arguments(idle: Stack, fields: dict[str, Any], field: str) -> None:
    found = violations(rpc_error(lambda: list_page(idle, **fields)))
    assert field in [f for f, _ in found], found


def test_list_rejects_end_before_start(idle: Stack, seven: Seven) -> None:
    fields = {"start_time": seven.created[3], "end_time": seven.created[1]}
    assert "EndTime" in [f for f, _ in violations(rpc_error(lambda: list_page(idle, **fields)))]


def test_list_token_is_bound_to_its_filters(idle: Stack, seven: Seven) -> None:
    w = seven.window()
    token = list_page(idle, max_results=3, **w).next_token
    assert token
    others: list[dict[str, Any]] = [
        {**w, "status": "Init"},
        {**w, "sort_by": "asc"},
        {**w, "job_type": "Script"},
        {"job_id": seven.ids[0]},
        {},  # without the time window
    ]
    for fields in others:
        err = rpc_error(lambda fields=fields: list_page(idle, max_results=3, next_token=token, **fields))
        assert "NextToken" in [f for f, _ in violations(err)]
    # The same filters with another page size are the same query.
    assert [
        j.job_id for j in list_page(idle, max_results=10, next_token=token, **w).editing_batch_job_list
    ] == (seven.ids[::-1][3:])


# -- 4. Watch ---------------------------------------------------------------------------------------------


def test_watch_starts_with_the_current_state(idle: Stack) -> None:
    job_id = submit(idle, job_doc(idle.media_dir, count=2))
    stream = idle.stub.WatchBatchMediaProducingJob(
        api.WatchBatchMediaProducingJobRequest(job_id=job_id), timeout=30
    )
    try:
        first = next(stream)
    finally:
        stream.cancel()
    assert first.editing_batch_job == idle.get(job_id)
    assert first.revision == 1
    assert [s.status for s in first.editing_batch_job.sub_job_list] == ["Init", "Init"]


def test_watch_follows_a_batch_to_its_end(busy: Stack) -> None:
    job_id = submit(busy, job_doc(busy.media_dir, count=3))

    changes = busy.watch(job_id, timeout_s=120)

    assert changes, "Watch sent nothing"
    revisions = [c.revision for c in changes]
    assert all(a < b for a, b in zip(revisions, revisions[1:], strict=False)), revisions
    modified = [c.editing_batch_job.modified_time.ToNanoseconds() for c in changes]
    assert modified == sorted(modified), "ModifiedTime went back"
    statuses = [c.editing_batch_job.status for c in changes]
    assert [BATCH_RANK[s] for s in statuses] == sorted(BATCH_RANK[s] for s in statuses), statuses
    for index in range(3):
        subs = [c.editing_batch_job.sub_job_list[index] for c in changes]
        ranks = [SUB_RANK[s.status] for s in subs]
        assert ranks == sorted(ranks), [s.status for s in subs]
        progress = [s.progress for s in subs]
        assert progress == sorted(progress), progress
    last = changes[-1].editing_batch_job
    assert last.status == "Finished", busy.log("worker")
    assert all(s.status == "Success" and s.progress == 1.0 for s in last.sub_job_list)
    assert last.HasField("complete_time")
    assert all(c.editing_batch_job.status not in ("Finished", "Failed", "Cancelled") for c in changes[:-1])
    # Three renders take far longer than opening the stream: it began before the end.
    assert len(changes) >= 2
    assert last == busy.get(job_id)


def test_watch_of_a_finished_job_sends_one_message(busy: Stack) -> None:
    job_id = submit(busy, job_doc(busy.media_dir))
    busy.watch(job_id)
    assert busy.get(job_id).status == "Finished", busy.log("worker")

    again = busy.watch(job_id, timeout_s=10)

    assert len(again) == 1
    assert again[0].editing_batch_job.status == "Finished"


def test_watch_of_an_unknown_job_is_not_found(idle: Stack) -> None:
    err = rpc_error(lambda: idle.watch(uuid.uuid4().hex, timeout_s=10))
    assert err.code() == grpc.StatusCode.NOT_FOUND, err


# -- 5. Cancel --------------------------------------------------------------------------------------------


def test_cancel_of_an_unknown_job_is_not_found(idle: Stack) -> None:
    err = rpc_error(lambda: cancel(idle, uuid.uuid4().hex))
    assert err.code() == grpc.StatusCode.NOT_FOUND, err


def test_cancel_of_a_finished_job_is_failed_precondition(busy: Stack) -> None:
    job_id = submit(busy, job_doc(busy.media_dir))
    busy.watch(job_id)
    before = busy.get(job_id)
    assert before.status == "Finished", busy.log("worker")

    err = rpc_error(lambda: cancel(busy, job_id))

    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err
    assert busy.get(job_id) == before


def test_a_batch_whose_renders_all_fail_is_failed_and_cannot_be_cancelled(busy: Stack) -> None:
    doc = job_doc(busy.media_dir, count=2)
    for group in doc["InputConfig"]["MediaGroupArray"]:
        group["MediaArray"] = [f"file://{busy.media_dir}/missing.mp4"]  # under the root: valid at submit
    job_id = submit(busy, doc)

    last = busy.watch(job_id)[-1].editing_batch_job

    assert last.status == "Failed", busy.log("worker")
    assert last.extend.error_code == "AllSubJobsFailed"
    assert [s.status for s in last.sub_job_list] == ["Failed", "Failed"]
    assert {s.error_code for s in last.sub_job_list} == {"InvalidMaterial.NotFound"}
    assert all("missing.mp4" in s.error_message for s in last.sub_job_list)
    err = rpc_error(lambda: cancel(busy, job_id))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err


def test_cancel_before_any_worker_runs_renders_nothing(tmp_path: Path) -> None:
    with running_stack(tmp_path, "sqlite", worker=False) as stack:
        job_id = submit(stack, job_doc(stack.media_dir, count=3))
        # The commands are on the bus (the race of a cancel with their publishing is the next test).
        wait_until(lambda: sqlite_unpublished(stack) == 0, "render commands published")
        assert bus_backlog(stack) == (3, 0)

        first = cancel(stack, job_id)
        assert first.status == "Cancelled"
        assert [s.status for s in first.sub_job_list] == ["Cancelled"] * 3
        assert first.HasField("complete_time")
        again = cancel(stack, job_id)  # idempotent
        assert again == first
        assert stack.get(job_id) == first
        wait_until(lambda: sqlite_unpublished(stack) == 0, "cancel marker published")

        stack.start("worker")
        wait_until(lambda: bus_backlog(stack) == (0, 0), "the worker took every command", timeout_s=60)

        assert output_files(stack) == []
        assert stack.get(job_id) == first, "a cancelled batch changed"
        assert "sub-job" in stack.log("worker"), "the worker never saw the commands"


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
)  # fmt: skip
def test_cancel_while_the_commands_are_being_published_renders_nothing(tmp_path: Path, backend: str) -> None:
    with running_stack(tmp_path, backend, worker=False) as stack:
        proc = stack.nats.process
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)  # the relay's publishes now wait for JetStream's ack (5 s at most)
        try:
            job_id = submit(stack, job_doc(stack.media_dir, count=3))
            time.sleep(1.0)  # setup, not an assertion: the relay has read the commands and waits on the bus
            cancelled = cancel(stack, job_id)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert cancelled.status == "Cancelled"
        wait_until(lambda: bus_backlog(stack)[0] == 3, "the commands read before the cancel reached the bus")

        stack.start("worker")
        wait_until(lambda: bus_backlog(stack) == (0, 0), "the worker took every command", timeout_s=60)

        assert stack.get(job_id) == cancelled
        assert output_files(stack) == [], "a cancelled batch was rendered"


def test_cancel_during_a_render(busy: Stack) -> None:
    doc = {
        "InputConfig": {"MediaGroupArray": [
            {"GroupName": "long", "MediaArray": [f"file://{busy.media_dir}/long.mp4"], "Duration": 20}]},
        "OutputConfig": {"Count": 2, "Width": 720, "Height": 1280, "Video": {"Preset": "slow"}},
    }  # fmt: skip
    job_id = submit(busy, doc)
    changes: list[api.WatchBatchMediaProducingJobResponse] = []
    at_cancel: api.EditingBatchJob | None = None
    request = api.WatchBatchMediaProducingJobRequest(job_id=job_id)
    for change in busy.stub.WatchBatchMediaProducingJob(request, timeout=120):
        changes.append(change)
        subs = change.editing_batch_job.sub_job_list
        if at_cancel is None and any(s.status == "Processing" and s.progress > 0 for s in subs):
            at_cancel = cancel(busy, job_id)
            again = cancel(busy, job_id)  # idempotent while the running render stops, too
            assert again.status in ("Processing", "Cancelled")

    assert at_cancel is not None, "no render was seen in progress"
    assert at_cancel.status in ("Processing", "Cancelled")
    assert "Init" not in [s.status for s in at_cancel.sub_job_list], (
        "a sub-job not started survived the cancel"
    )
    running = {s.index for s in at_cancel.sub_job_list if s.status == "Processing"}
    last = changes[-1].editing_batch_job
    assert last.status == "Cancelled", busy.log("worker")
    assert last == busy.get(job_id)
    assert last.HasField("complete_time")
    assert "Cancelled" in [s.status for s in last.sub_job_list]
    for sub in last.sub_job_list:
        assert sub.status in ("Cancelled", "Success"), sub
        if sub.status == "Success":  # it finished before the cancel reached it: a whole file
            assert path_of(sub.media_url).is_file()
        elif sub.index in running:  # stopped mid-render
            assert sub.error_code == "Cancelled" and sub.progress < 1, sub
    revisions = [c.revision for c in changes]
    assert all(a < b for a, b in zip(revisions, revisions[1:], strict=False)), revisions
    folder = busy.output_dir / "default" / job_id
    leftovers = [p.name for p in folder.iterdir()] if folder.exists() else []
    assert not [n for n in leftovers if ".partial" in n], leftovers
    successes = {f"{s.index}.{x}" for s in last.sub_job_list if s.status == "Success" for x in ("mp4", "jpg")}
    assert set(leftovers) == successes  # each video with its poster, nothing else


# -- 6. Get -----------------------------------------------------------------------------------------------


def test_get_of_an_unknown_job_is_not_found(idle: Stack) -> None:
    err = rpc_error(lambda: idle.get(uuid.uuid4().hex))
    assert err.code() == grpc.StatusCode.NOT_FOUND, err


def test_get_is_ice_shaped_json(busy: Stack) -> None:
    doc = dict(job_doc(busy.media_dir, count=2), UserData=json.dumps({"Campaign": "api"}))
    job_id = submit(busy, doc)
    busy.watch(job_id)
    resp = busy.stub.GetBatchMediaProducingJob(
        api.GetBatchMediaProducingJobRequest(job_id=job_id), timeout=10
    )

    text = json_format.MessageToJson(resp)

    for name in ("RequestId", "EditingBatchJob", "SubJobList", "JobId", "CreateTime", "MediaURL"):
        assert f'"{name}"' in text, name
    ice = json.loads(text)
    job = ice["EditingBatchJob"]
    assert job["JobId"] == job_id and job["JobType"] == "Script" and job["Status"] == "Finished"
    for key in ("CreateTime", "ModifiedTime", "CompleteTime"):  # ICE's: UTC to the second
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", job[key]), job[key]
        assert RFC3339_UTC.match(job[key.replace("Time", "Timestamp")])  # exact, for ordering
    b = resp.editing_batch_job
    assert b.create_time.ToNanoseconds() <= b.modified_time.ToNanoseconds() <= b.complete_time.ToNanoseconds()
    assert json.loads(job["UserData"]) == {"Campaign": "api"}
    # ICE's configs and Extend: JSON strings under ICE's names; the typed forms beside them
    assert json.loads(job["OutputConfig"])["Count"] == 2 == job["OutputConfigObject"]["Count"]
    assert json.loads(job["InputConfig"])["MediaGroupArray"][0]["GroupName"] == "opening"
    assert json.loads(job["Extend"])["DistinctVariants"] == job["ExtendObject"]["DistinctVariants"]
    assert [s["Status"] for s in job["SubJobList"]] == ["Success", "Success"]
    assert [s.get("Index", 0) for s in job["SubJobList"]] == [0, 1]
    # The ICE document parses back into the contract's messages.
    back = api.GetBatchMediaProducingJobResponse()
    json_format.Parse(text, back)
    assert back == resp
    assert json_format.Parse(job["InputConfig"], cfg.InputConfig()) == resp.editing_batch_job.input_config


def test_a_request_with_huge_mistakes_gets_a_bounded_answer(idle: Stack) -> None:
    """Issue 13: descriptions that quote a 100 KB input, and thousands of mistakes at once, made an
    answer too large for gRPC ("Stream removed"). Now each is clipped and at most 50 are listed."""
    huge = "g" * 100_000
    doc = {
        "InputConfig": {"MediaGroupArray": [
            {"GroupName": "a", "MediaArray": [f"file:///nowhere/{i}.mp4" for i in range(2000)]}]},
        "EditingConfig": {"MediaConfig": {"MediaMetaDataArray": [{"Media": "x", "GroupName": huge}]}},
    }  # fmt: skip
    with pytest.raises(grpc.RpcError) as e:
        idle.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(e.value.details() or "") < 64 * 1024


def test_a_job_too_large_to_publish_is_refused_at_submit_and_stores_nothing(idle: Stack) -> None:
    """Issue 13: a valid job whose render command is over the stream's message limit (40 groups × 200
    media URLs) could never be published; the relay retried it for ever while other tenants' jobs
    waited, and the request wrote 121 MB to the database. (Now at most 1000 media go in one job; long
    names make one that is still too large.)"""
    groups = [{"GroupName": f"g{g}", "MediaArray": [f"file://{idle.media_dir}/{'m' * 900}{g}-{i}.mp4"
                                                     for i in range(25)]} for g in range(40)]  # fmt: skip
    doc = {"InputConfig": {"MediaGroupArray": groups},
           "OutputConfig": {"Count": 100, "Width": 160, "Height": 288}}  # fmt: skip
    before = list_page(idle, max_results=100).editing_batch_job_list
    with pytest.raises(grpc.RpcError) as e:
        idle.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"), timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too large to render" in (e.value.details() or "")
    assert len(list_page(idle, max_results=100).editing_batch_job_list) == len(before)
