"""What the client commands show: progress redrawn in place on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io

from cli import progress
from reelmill.v1 import batch_service_pb2 as api


def job(status: str, *subs: tuple[str, float]) -> api.EditingBatchJob:
    return api.EditingBatchJob(
        job_id="j1", status=status,
        sub_job_list=[api.SubJob(index=i, status=s, progress=p) for i, (s, p) in enumerate(subs)],
    )  # fmt: skip


def test_on_a_terminal_the_bars_are_redrawn_in_place() -> None:
    out = io.StringIO()
    view = progress.ProgressView(out, tty=True)
    view.update(job("Processing", ("Processing", 0.5), ("Init", 0.0)))
    first = out.getvalue()
    assert first.count("\n") == 3 and "\x1b[" + "3F" not in first
    assert "0/2 done" in first and "█" * 12 + "░" * 12 + "  50%" in first
    view.update(job("Finished", ("Success", 1.0), ("Success", 1.0)))
    second = out.getvalue()[len(first) :]
    assert second.startswith("\x1b[3F")  # up three lines, then the same three lines again
    assert second.count("\x1b[K\n") == 3 and "2/2 done" in second


def test_on_a_terminal_the_view_stays_within_its_height() -> None:
    """40 variants on a 12-row terminal: the running ones are shown, the rest counted on one line, and
    every redraw moves up exactly as far as it drew (no copies left in the scrollback)."""
    out = io.StringIO()
    view = progress.ProgressView(out, tty=True, rows=12)
    states = [("Success", 1.0)] * 30 + [("Processing", 0.4)] * 3 + [("Init", 0.0)] * 7
    view.update(job("Processing", *states))
    first = out.getvalue()
    assert first.count("\n") <= 11
    assert "… 31 more variants (1 Init, 30 Success)" in first and "variant  30" in first  # running: shown
    view.update(job("Processing", *states))
    assert out.getvalue()[len(first) :].startswith(f"\x1b[{first.count(chr(10))}F")


def test_elsewhere_each_change_is_one_line() -> None:
    out = io.StringIO()
    view = progress.ProgressView(out, tty=False)
    for p in (0.0, 0.05, 0.12, 0.5, 1.0):
        view.update(job("Processing", ("Processing", p)))
    view.update(job("Finished", ("Success", 1.0)))
    assert out.getvalue().splitlines() == [
        "job j1 Processing",
        "  variant 0: Processing 0%",
        "  variant 0: Processing 12%",
        "  variant 0: Processing 50%",
        "  variant 0: Processing 100%",
        "job j1 Finished",
        "  variant 0: Success 100%",
    ]


def test_summary_and_tables() -> None:
    done = job("Finished", ("Success", 1.0), ("Failed", 0.3))
    done.sub_job_list[0].media_url, done.sub_job_list[0].duration = "file:///o/0.mp4", 3.0
    done.sub_job_list[1].error_code, done.sub_job_list[1].error_message = "InputError", "no such file"
    assert progress.summary(done).splitlines() == [
        "VARIANT  STATUS   DURATION  OUTPUT OR ERROR",
        "0        Success  3.00 s    file:///o/0.mp4",
        "1        Failed   -         InputError: no such file",
        "job j1 Finished: 1 of 2 variants rendered",
    ]
    listed = api.ListBatchMediaProducingJobsResponse(editing_batch_job_list=[done], next_token="abc")
    listed.editing_batch_job_list[0].create_time.FromJsonString("2026-11-25T10:00:00Z")
    header, row, more = progress.jobs_table(listed).splitlines()
    assert header.startswith("JOB ID  STATUS    TYPE  CREATED (UTC)")
    assert row.split()[:5] == ["j1", "Finished", "-", "2026-11-25", "10:00:00"]
    assert more == "more: --next-token abc"
    assert progress.jobs_table(api.ListBatchMediaProducingJobsResponse()) == "no jobs"
