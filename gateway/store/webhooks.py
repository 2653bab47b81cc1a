"""Webhook deliveries: claimed with a lease (so that one gateway sends each), then delivered or failed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.store.schema import WebhookRow
from gateway.store.transactions import Transactions, utcnow


@dataclass(frozen=True)
class DueWebhook:
    id: int
    webhook_id: str
    batch_id: str
    tenant: str
    url: str
    attempts: int
    created_at: datetime


class Webhooks:
    def __init__(self, tx: Transactions) -> None:
        self._tx = tx

    def claim(self, lease_s: float, limit: int = 16, busy: Collection[str] = ()) -> list[DueWebhook]:
        """Due deliveries, each leased for lease_s so that no other gateway sends it meanwhile; none of
        the `busy` tenants (those using their share of the sending slots)."""

        def write(s: Session) -> list[DueWebhook]:
            now = utcnow()
            due = select(WebhookRow).where(
                WebhookRow.delivered_at.is_(None),
                WebhookRow.gave_up_at.is_(None),
                WebhookRow.next_attempt_at <= now,
            )
            if busy:
                due = due.where(WebhookRow.tenant.not_in(list(busy)))
            rows = list(s.scalars(
                due.order_by(WebhookRow.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            ))  # fmt: skip
            for row in rows:
                row.next_attempt_at = now + timedelta(seconds=lease_s)
            return [DueWebhook(r.id, r.webhook_id, r.batch_id, r.tenant, r.url, r.attempts, r.created_at)
                    for r in rows]  # fmt: skip

        return self._tx.run(write)

    def release(self, row_ids: Collection[int]) -> None:
        """Claimed deliveries given back unsent: due again at once (no attempt counted)."""
        if row_ids:
            self._tx.run(lambda s: s.execute(update(WebhookRow).where(WebhookRow.id.in_(list(row_ids)))
                                             .values(next_attempt_at=utcnow())))  # fmt: skip

    def delivered(self, row_id: int) -> None:
        self._tx.run(lambda s: s.execute(update(WebhookRow).where(WebhookRow.id == row_id).values(
            delivered_at=utcnow(), attempts=WebhookRow.attempts + 1, last_error="")))  # fmt: skip

    def failed(self, row_id: int, error: str, retry_at: datetime | None) -> None:
        """A failed attempt: try again at retry_at, or give up when it is None."""
        values: dict[str, object] = {"attempts": WebhookRow.attempts + 1, "last_error": error[:1000]}
        if retry_at is None:
            values["gave_up_at"] = utcnow()
        else:
            values["next_attempt_at"] = retry_at
        self._tx.run(lambda s: s.execute(update(WebhookRow).where(WebhookRow.id == row_id).values(**values)))
