"""In-process wake-ups for Watch streams when a batch changes in this gateway.

Changes made by another gateway replica are found by the Watch loop's periodic revision check.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class BatchChanges:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.closing = asyncio.Event()

    def notify(self, batch_id: str) -> None:
        for event in self._waiters.get(batch_id, ()):
            event.set()

    async def wait(self, batch_id: str, timeout_s: float) -> None:
        """Returns on a change of the batch, at shutdown, or after timeout_s."""
        event = asyncio.Event()
        self._waiters[batch_id].add(event)
        try:
            waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self.closing.wait())]
            _, pending = await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        finally:
            self._waiters[batch_id].discard(event)
            if not self._waiters[batch_id]:
                del self._waiters[batch_id]
