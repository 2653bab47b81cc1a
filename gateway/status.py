"""The status model of the spec §2, as pure functions: how an event moves a sub-job, and when and how a
batch ends. The store (store/batches.py) applies them to rows; tests run them without a database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class EventUpdate:
    """A render event as the store applies it."""

    batch_id: str
    sub_job_id: str
    attempt: int
    state: str  # one of the sub-job statuses
    progress: float = 0.0
    media_url: str = ""
    duration_s: float = 0.0
    error_code: str = ""
    error_message: str = ""
    plan: str = ""
    qc: str = ""  # the output's quality report (JSON), with Success


@dataclass(frozen=True)
class SubJobState:
    """What an event can change of a sub-job."""

    status: str
    attempt: int
    progress: float
    media_url: str = ""
    duration_s: float = 0.0
    error_code: str = ""
    error_message: str = ""
    plan: str = ""
    qc: str = ""


def next_sub_job(sub: SubJobState, ev: EventUpdate) -> SubJobState | None:
    """The sub-job after the event; None when the event changes nothing: a duplicate, a late event of
    an earlier delivery, anything after a terminal status, or an unknown state."""
    if sub.status in SUB_JOB_TERMINAL:
        return None
    if ev.state == PROCESSING:
        if ev.attempt < sub.attempt:
            return None
        changed = (
            sub.status != PROCESSING
            or ev.attempt != sub.attempt
            or ev.progress != sub.progress
            or (ev.plan and ev.plan != sub.plan)
        )
        if not changed:
            return None
        # a new delivery starts its progress again; within one, progress never goes back
        progress = ev.progress if ev.attempt > sub.attempt else max(sub.progress, ev.progress)
        after = replace(sub, status=PROCESSING, attempt=ev.attempt, progress=progress)
    elif ev.state == SUCCESS:
        after = replace(sub, status=SUCCESS, progress=1.0, media_url=ev.media_url, duration_s=ev.duration_s,
                        qc=ev.qc)  # fmt: skip
    elif ev.state in (FAILED, CANCELLED):
        after = replace(sub, status=ev.state, error_code=ev.error_code, error_message=ev.error_message)
    else:
        return None
    return replace(after, plan=ev.plan or after.plan, attempt=max(after.attempt, ev.attempt))


@dataclass(frozen=True)
class SubJobOutcome:
    status: str
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class Settled:
    """A batch's terminal status, and its error when every sub-job failed."""

    status: str
    error_code: str = ""
    error_message: str = ""


def settle(subs: Sequence[SubJobOutcome], cancel_requested: bool) -> Settled | None:
    """The batch's end once no sub-job (in index order) can change any more, else None."""
    final = settled_batch_status((s.status for s in subs), cancel_requested)
    if final is None:
        return None
    if final != FAILED:
        return Settled(final)
    first = next((s for s in subs if s.status == FAILED), None)
    detail = f"; first: {first.error_code}: {first.error_message}" if first else ""
    return Settled(FAILED, "AllSubJobsFailed", f"all {len(subs)} sub-jobs failed{detail}")
