"""Completion callbacks (spec §8): one signed POST per terminal batch, retried until it lands.

Deliveries are rows written with the batch's terminal change, so a gateway restart loses none. Each
attempt is signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature =
v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))), so a receiver can verify it and refuse
replays by timestamp; the id stays the same across retries so it can also deduplicate.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format

from gateway import metrics
from gateway.errors import DatabaseUnavailableError, DeliveryError, NotFoundError
from gateway.store.batches import Batches
from gateway.store.transactions import utcnow
from gateway.store.webhooks import DueWebhook, Webhooks
from gateway.tenants import Authenticator
from gateway.views import batch_message
from gateway.waits import first_done
from reelmill.urlguard import BlockedAddressError, Network, deadline, pinned_connection

log = logging.getLogger(__name__)

EVENT_TYPE = "BatchProduceMediaComplete"
TIMEOUT_S = 5.0
GIVE_UP_AFTER = timedelta(hours=24)
MAX_RESPONSE_BYTES = 64 * 1024
DELIVERY_DEADLINE_S = 15.0  # connect, send, the whole answer: within the claim lease (4 × TIMEOUT_S + 10)


def retry_delay_s(attempts: int, base_s: float = 5.0) -> float:
    """5 s, 10 s, 20 s … capped at 10 min, with ±20 % jitter: about 30 tries in the first 4 hours."""
    return min(base_s * 2 ** max(attempts - 1, 0), 600.0) * random.uniform(0.8, 1.2)


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def body_of(job: dict[str, object], event_time: datetime) -> bytes:
    sub_jobs = job.get("SubJobList", [])
    assert isinstance(sub_jobs, list)  # a repeated field in the JSON form
    message = {key: job[key] for key in ("JobId", "Status", "JobType", "UserData") if key in job}
    message["SubJobList"] = [{k: v for k, v in s.items() if k != "Plan"} for s in sub_jobs]
    doc = {
        "EventType": EVENT_TYPE,
        "EventTime": event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "MessageBody": message,
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def post(url: str, body: bytes, headers: dict[str, str], allowed: Sequence[Network],
         deadline_s: float = DELIVERY_DEADLINE_S) -> int:  # fmt: skip
    """POSTs to the checked address of the URL's host; redirects are not followed. The whole exchange
    ends within `deadline_s` (urlguard.deadline): a slow receiver cannot hold a notifier slot, nor a
    stopping gateway."""
    try:
        conn, path = pinned_connection(url, TIMEOUT_S, allowed)
    except BlockedAddressError as e:
        raise DeliveryError(str(e)) from e
    fired = threading.Event()
    try:
        with deadline(conn, deadline_s, fired):
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            return response.status
    except (OSError, http.client.HTTPException) as e:
        if fired.is_set():
            raise DeliveryError(f"no complete answer within {deadline_s:g} s") from e
        raise DeliveryError(f"{type(e).__name__}: {e}") from e
    finally:
        conn.close()


class Notifier:
    def __init__(self, webhooks: Webhooks, batches: Batches, auth: Authenticator, *, open_secret: str,
                 allowed: Sequence[Network], retry_base_s: float = 5.0, poll_s: float = 1.0,
                 concurrency: int = 8) -> None:  # fmt: skip
        self.webhooks = webhooks
        self.batches = batches
        self.auth = auth
        self.open_secret = open_secret
        self.allowed = tuple(allowed)
        self.poll_s = poll_s
        self.retry_base_s = retry_base_s
        self.concurrency = concurrency
        # A tenant sends at most this many at once, so that its slow receivers (each up to the delivery
        # deadline) cannot hold every slot while another tenant's callbacks wait (issue 13).
        self.per_tenant = max(1, concurrency // 2)
        self._sending: dict[str, int] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Only as many as there are free slots, and none of a tenant at its share: a claimed delivery
            # starts at once, so none waits past its lease (another gateway would send it again).
            free = self.concurrency - len(self._running)
            busy = [t for t, n in self._sending.items() if n >= self.per_tenant]
            try:
                due = (
                    await asyncio.to_thread(self.webhooks.claim, 4 * TIMEOUT_S + 10, free, busy)
                    if free
                    else []
                )
            except DatabaseUnavailableError as e:
                log.warning("webhooks: %s", e)
                due = []
            over = []
            for delivery in due:
                if self._sending.get(delivery.tenant, 0) + 1 > self.per_tenant:
                    over.append(delivery.id)  # one claim can bring several of a tenant: back they go
                    continue
                self._sending[delivery.tenant] = self._sending.get(delivery.tenant, 0) + 1
                task = asyncio.create_task(self._deliver(delivery))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if over:
                try:
                    await asyncio.to_thread(self.webhooks.release, over)
                except DatabaseUnavailableError as e:
                    log.warning("webhooks: %s (their lease expires instead)", e)
            await first_done(asyncio.sleep(min(self.poll_s, self.retry_base_s)), stop.wait())
        if self._running:
            await asyncio.wait(self._running, timeout=TIMEOUT_S + 1)

    async def _deliver(self, delivery: DueWebhook) -> None:
        try:
            await self._attempt(delivery)
        except DatabaseUnavailableError as e:
            log.warning("webhook %s: %s (the lease expires and it is tried again)", delivery.webhook_id, e)
        finally:
            self._sending[delivery.tenant] -= 1
            if not self._sending[delivery.tenant]:
                del self._sending[delivery.tenant]

    async def _attempt(self, delivery: DueWebhook) -> None:
        try:
            found = await asyncio.to_thread(self.batches.get, delivery.tenant, delivery.batch_id)
        except NotFoundError:
            await asyncio.to_thread(self.webhooks.failed, delivery.id, "the job no longer exists", None)
            return
        job = json_format.MessageToDict(batch_message(found.batch, found.sub_jobs))
        body = body_of(job, found.batch.completed_at or utcnow())
        timestamp = int(time.time())
        headers = {"webhook-id": delivery.webhook_id, "webhook-timestamp": str(timestamp)}
        secret = self.auth.webhook_secret(delivery.tenant) if not self.auth.is_open else self.open_secret
        if secret:
            headers["webhook-signature"] = sign(secret, delivery.webhook_id, timestamp, body)
        try:
            status = await asyncio.to_thread(post, delivery.url, body, headers, self.allowed)
            error = "" if 200 <= status < 300 else f"HTTP {status}"
            if 300 <= status < 400:
                error += " (redirects are not followed)"
        except DeliveryError as e:
            error = str(e)
        if not error:
            metrics.WEBHOOK_DELIVERIES.inc()
            await asyncio.to_thread(self.webhooks.delivered, delivery.id)
            log.info("job %s: webhook %s delivered", delivery.batch_id, delivery.webhook_id)
            return
        metrics.WEBHOOK_FAILURES.inc()
        attempts = delivery.attempts + 1
        next_at = datetime.now(UTC) + timedelta(seconds=retry_delay_s(attempts, self.retry_base_s))
        retry_at = None if next_at - delivery.created_at > GIVE_UP_AFTER else next_at
        await asyncio.to_thread(self.webhooks.failed, delivery.id, error, retry_at)
        log.warning("job %s: webhook attempt %d to %s failed: %s%s", delivery.batch_id, attempts,
                    delivery.url, error, "; giving up" if retry_at is None else "")  # fmt: skip
