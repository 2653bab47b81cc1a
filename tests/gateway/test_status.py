"""The status model without a database: how events move a sub-job, when and how a batch ends."""

from __future__ import annotations

import pytest

from gateway import status as st
from gateway.status import EventUpdate, Settled, SubJobOutcome, SubJobState, next_sub_job, settle

FRESH = SubJobState(status=st.INIT, attempt=0, progress=0.0)


def ev(state: str, attempt: int = 1, **kw: object) -> EventUpdate:
    return EventUpdate(batch_id="b", sub_job_id="s", attempt=attempt, state=state, **kw)  # type: ignore[arg-type]


def test_progress_moves_forward_within_a_delivery_and_restarts_with_the_next() -> None:
    running = next_sub_job(FRESH, ev(st.PROCESSING, progress=0.5, plan="{}"))
    assert running == SubJobState(status=st.PROCESSING, attempt=1, progress=0.5, plan="{}")
    assert next_sub_job(running, ev(st.PROCESSING, progress=0.5)) is None  # duplicate
    later = next_sub_job(running, ev(st.PROCESSING, progress=0.3, plan="{}x"))
    assert later is not None and later.progress == 0.5 and later.plan == "{}x"  # never backwards
    again = next_sub_job(running, ev(st.PROCESSING, attempt=2, progress=0.1))
    assert again is not None and (again.attempt, again.progress, again.plan) == (2, 0.1, "{}")
    assert next_sub_job(again, ev(st.PROCESSING, attempt=1, progress=0.9)) is None  # stale delivery


def test_terminal_events_set_their_fields_and_nothing_moves_after_them() -> None:
    done = next_sub_job(FRESH, ev(st.SUCCESS, attempt=3, media_url="file:///o/0.mp4", duration_s=6.0))
    assert done == SubJobState(status=st.SUCCESS, attempt=3, progress=1.0, media_url="file:///o/0.mp4",
                               duration_s=6.0)  # fmt: skip
    for late in (ev(st.SUCCESS, 3), ev(st.PROCESSING, 4), ev(st.FAILED, 4)):
        assert next_sub_job(done, late) is None
    failed = next_sub_job(FRESH, ev(st.FAILED, error_code="Internal", error_message="boom"))
    assert failed is not None and (failed.status, failed.error_code, failed.error_message) == (
        st.FAILED, "Internal", "boom")  # fmt: skip
    assert next_sub_job(FRESH, ev("Exploded")) is None  # an unknown state changes nothing


@pytest.mark.parametrize(
    ("statuses", "cancel_requested", "expected"),
    [
        ([st.SUCCESS, st.PROCESSING], False, None),
        ([st.SUCCESS, st.FAILED], False, Settled(st.FINISHED)),
        ([st.CANCELLED, st.SUCCESS], True, Settled(st.CANCELLED)),
        ([st.INIT], True, None),
    ],
)
def test_a_batch_settles_once_no_sub_job_can_change(
    statuses: list[str], cancel_requested: bool, expected: Settled | None
) -> None:
    assert settle([SubJobOutcome(s) for s in statuses], cancel_requested) == expected


def test_a_batch_without_a_success_fails_naming_the_first_failure() -> None:
    subs = [SubJobOutcome(st.CANCELLED), SubJobOutcome(st.FAILED, "InvalidMaterial.NotFound", "gone"),
            SubJobOutcome(st.FAILED, "Internal", "boom")]  # fmt: skip
    assert settle(subs, cancel_requested=False) == Settled(
        st.FAILED, "AllSubJobsFailed", "all 3 sub-jobs failed; first: InvalidMaterial.NotFound: gone"
    )
