"""Completion callbacks: signed, retried until a 2xx, kept across a gateway restart, never to private
addresses unless configuration allows them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from standardwebhooks.webhooks import Webhook
from test_observability import scrape

from cli.client import submit_request
from cli.natsd import free_port
from cli.samples import make_video
from conftest import Stack, make_stack
from gateway.errors import DeliveryError
from gateway.notify import post, sign
from reelmill.urlguard import parse_networks

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """An HTTP endpoint that answers with the given statuses in turn, then 200, and keeps every request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/reelmill?src=test"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(tmp_path, None, REELMILL_WEBHOOK_SECRET=SECRET, REELMILL_ALLOWED_NETWORKS="127.0.0.1/32",
                   REELMILL_WEBHOOK_RETRY_BASE_S="0.3")  # fmt: skip
    make_video(str(s.media_dir / "clip.mp4"), 320, 240, 1.0)
    try:
        yield s
    finally:
        s.close()


def job(stack: Stack, notify: str, count: int = 2) -> dict:
    return {
        "InputConfig": {"MediaArray": [f"file://{stack.media_dir}/clip.mp4"]},
        "OutputConfig": {"Count": count, "Width": 64, "Height": 64, "FixedDuration": 0.5},
        "UserData": json.dumps({"NotifyAddress": notify, "Campaign": "x"}),
    }


def wait_for_requests(receiver: Receiver, n: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(receiver.requests) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.requests) >= n, f"{len(receiver.requests)} of {n} callbacks arrived"


def test_callback_is_signed_and_retried_until_it_lands(stack: Stack) -> None:
    receiver = Receiver([500, 503, 500])
    metrics_port = free_port()
    try:
        stack.start("gateway", None, "--metrics-port", str(metrics_port))
        stack.start("worker")
        job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(job(stack, receiver.url), "/")).job_id
        stack.watch(job_id)
        wait_for_requests(receiver, 4)
        time.sleep(1.0)  # nothing more comes once a 2xx was answered
        counted = scrape(metrics_port)  # the documented WebhooksFailing alert reads these
    finally:
        receiver.close()
    assert len(receiver.requests) == 4
    assert counted[("reelmill_webhook_failures_total", ())] == 3
    assert counted[("reelmill_webhook_deliveries_total", ())] == 1
    ids = {headers["webhook-id"] for headers, _, _ in receiver.requests}
    assert ids == {f"msg_{job_id}"}  # one id: the receiver can deduplicate
    for headers, body, _ in receiver.requests:
        payload = Webhook(SECRET).verify(body, headers)  # the reference implementation agrees
        assert payload["EventType"] == "BatchProduceMediaComplete"
    message = payload["MessageBody"]
    assert (message["JobId"], message["Status"], message["JobType"]) == (job_id, "Finished", "Smart_Mix")
    assert json.loads(message["UserData"])["Campaign"] == "x"
    assert [s["Status"] for s in message["SubJobList"]] == ["Success", "Success"]
    gaps = [b[2] - a[2] for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    # Backing off: nominal gaps 0.3, 0.6, 1.2 s (±20 %, and the notifier wakes every 0.3 s).
    assert gaps[2] > gaps[0] * 1.5, gaps


def test_a_pending_callback_survives_a_gateway_restart(stack: Stack) -> None:
    receiver = Receiver([500] * 100)
    try:
        stack.start("gateway")
        stack.start("worker")
        job_id = stack.stub.SubmitBatchMediaProducingJob(submit_request(job(stack, receiver.url), "/")).job_id
        stack.watch(job_id)
        wait_for_requests(receiver, 1)
        stack.stop("gateway")
        receiver.statuses.clear()  # the receiver recovers while the gateway is down
        stack.start("gateway")
        wait_for_requests(receiver, 2)
    finally:
        receiver.close()
    assert {h["webhook-id"] for h, _, _ in receiver.requests} == {f"msg_{job_id}"}


@pytest.mark.parametrize(
    "address",
    [
        "http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x", "http://[::ffff:10.0.0.1]/x", "http://0x7f000001/x", "http://localhost/x",
        "http://metadata.google.internal/x", "ftp://example.com/x", "http://user:pw@example.com/x",
    ],
)  # fmt: skip
def test_private_callback_addresses_are_refused_at_submit(strict_gateway: Stack, address: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        strict_gateway.stub.SubmitBatchMediaProducingJob(submit_request(job(strict_gateway, address), "/"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "NotifyAddress" in refused.value.details()


@pytest.fixture(scope="module")
def strict_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway with no allowed private networks."""
    s = make_stack(tmp_path_factory.mktemp("strict"), None)
    try:
        s.start("gateway")
        yield s
    finally:
        s.close()


def test_delivery_checks_the_address_again() -> None:
    receiver = Receiver([])
    try:
        with pytest.raises(DeliveryError, match="not public"):
            post(receiver.url, b"{}", {}, allowed=())
        assert receiver.requests == []  # never connected
        assert post(receiver.url, b"{}", {}, allowed=parse_networks("127.0.0.1/32")) == 200
    finally:
        receiver.close()


def test_signature_matches_the_reference_implementation() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    expected = Webhook(SECRET).sign("msg_1", when, '{"a":1}')
    assert sign(SECRET, "msg_1", int(when.timestamp()), b'{"a":1}') == expected


def test_a_receiver_answering_a_byte_at_a_time_cannot_hold_a_delivery() -> None:
    """Issue 13: eight such receivers held every notifier slot for hours (each read waited anew), and
    the gateway could not stop. The whole exchange now has a deadline."""
    stop = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers["Content-Length"]))
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                if stop.is_set():
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError, match="within 1 s"):
            post(url, b"{}", {}, parse_networks("127.0.0.1/32"), deadline_s=1.0)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 3  # the deadline, not 40 bytes × 0.3 s


def test_one_tenants_slow_receivers_cannot_hold_every_slot(tmp_path: Path) -> None:
    """Issue 13: a tenant sends at most half the notifier's slots at once, so another tenant's
    callback goes out while the first one's slow receivers (2 s each) are still answering."""
    import asyncio
    import uuid

    from gateway import status as st
    from gateway.notify import Notifier
    from gateway.status import EventUpdate
    from gateway.store import migrate
    from gateway.store.batches import Batches, NewBatch, NewMessage, NewSubJob
    from gateway.store.engine import make_engine
    from gateway.store.transactions import Transactions
    from gateway.store.webhooks import Webhooks
    from gateway.tenants import Authenticator

    slow_started: list[float] = []

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers["Content-Length"]))
            slow_started.append(time.monotonic())
            time.sleep(2)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    slow = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    fast = Receiver([])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    tx = Transactions(make_engine(url))
    batches = Batches(tx)

    def finished_batch(tenant: str, notify: str) -> None:
        sub = NewSubJob(uuid.uuid4().hex, 0)
        new = NewBatch(id=uuid.uuid4().hex, tenant=tenant, job_type="Script", client_token=None,
                       request_hash="h", input_config="{}", editing_config="{}", output_config="{}",
                       user_data=json.dumps({"NotifyAddress": notify}), seed=1, sub_jobs=[sub],
                       messages=[NewMessage(f"render.cmd.{tenant}.p3.{sub.id}", sub.id, b"c")])  # fmt: skip
        batches.submit(new)
        batches.apply_event(EventUpdate(batch_id=new.id, sub_job_id=sub.id, attempt=1, state=st.SUCCESS,
                                        media_url="file:///o/0.mp4", duration_s=1.0))  # fmt: skip

    for _ in range(6):  # first in line: due before the other tenant's
        finished_batch("slowco", f"http://127.0.0.1:{slow.server_address[1]}/hook")
    finished_batch("fastco", fast.url)
    notifier = Notifier(Webhooks(tx), batches, Authenticator.open(), open_secret=SECRET,
                        allowed=parse_networks("127.0.0.1/32"), concurrency=4, poll_s=0.1)  # fmt: skip

    async def until_fast_answered() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(notifier.run(stop))
        deadline = time.monotonic() + 20
        while not fast.requests and time.monotonic() < deadline:  # noqa: ASYNC110 - a server thread fills it
            await asyncio.sleep(0.05)
        stop.set()
        await running

    try:
        asyncio.run(until_fast_answered())
    finally:
        slow.shutdown()
        slow.server_close()
        fast.close()
    assert fast.requests, "the other tenant's callback was not sent"
    # slowco had 2 of the 4 slots; fastco's went out before slowco's third began (at 2 s).
    assert len(slow_started) == 2 or fast.requests[0][2] < sorted(slow_started)[2], slow_started
