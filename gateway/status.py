"""The status model of the spec §2, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable

INIT, PROCESSING = "Init", "Processing"
FINISHED, FAILED, CANCELLED = "Finished", "Failed", "Cancelled"
SUCCESS = "Success"

BATCH_STATUSES = (INIT, PROCESSING, FINISHED, FAILED, CANCELLED)
BATCH_TERMINAL = frozenset({FINISHED, FAILED, CANCELLED})
SUB_JOB_TERMINAL = frozenset({SUCCESS, FAILED, CANCELLED})


def settled_batch_status(sub_statuses: Iterable[str], cancel_requested: bool) -> str | None:
    """The batch's terminal status once no sub-job can change any more, else None."""
    statuses = list(sub_statuses)
    if any(s not in SUB_JOB_TERMINAL for s in statuses):
        return None
    if cancel_requested:
        return CANCELLED
    return FINISHED if SUCCESS in statuses else FAILED
