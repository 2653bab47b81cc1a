"""What the client commands show a person: live progress per variant, and tables.

On a terminal the progress bars are redrawn in place; anywhere else (a pipe, a CI log) each change
of a variant's status, or of its progress by a tenth, is one plain line.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from google.protobuf.timestamp_pb2 import Timestamp

from reelmill.v1 import batch_service_pb2 as api

BAR_WIDTH = 24


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(fraction, 1.0)) * width)
    return "█" * filled + "░" * (width - filled)


def _time(ts: Timestamp) -> str:
    if not getattr(ts, "seconds", 0):
        return "-"
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def jobs_table(resp: api.ListBatchMediaProducingJobsResponse) -> str:
    rows = [
        (j.job_id, j.status, j.job_type or "-", _time(j.create_time), _time(j.complete_time),
         j.extend.error_code or "")
        for j in resp.editing_batch_job_list
    ]  # fmt: skip
    if not rows:
        return "no jobs"
    text = table(("JOB ID", "STATUS", "TYPE", "CREATED (UTC)", "COMPLETED (UTC)", "ERROR"), rows)
    if resp.next_token:
        text += f"\nmore: --next-token {resp.next_token}"
    return text


def summary(job: api.EditingBatchJob) -> str:
    """The end of a watch: one row per variant, then a verdict."""
    rows = []
    for s in job.sub_job_list:
        where = s.media_url if s.status == "Success" else f"{s.error_code}: {s.error_message}".strip(": ")
        duration = f"{s.duration:.2f} s" if s.duration else "-"
        rows.append((str(s.index), s.status, duration, where or "-"))
    ok = sum(1 for s in job.sub_job_list if s.status == "Success")
    verdict = f"job {job.job_id} {job.status}: {ok} of {len(job.sub_job_list)} variants rendered"
    if job.extend.error_code:
        verdict += f" ({job.extend.error_code}: {job.extend.error_message})"
    if not rows:
        return verdict
    return table(("VARIANT", "STATUS", "DURATION", "OUTPUT OR ERROR"), rows) + "\n" + verdict


class ProgressView:
    def __init__(self, out: TextIO, tty: bool | None = None, rows: int | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        # The terminal's height: a redraw taller than the screen would scroll and leave copies behind.
        self.rows = rows if rows is not None else shutil.get_terminal_size((80, 24)).lines
        self._drawn = 0  # lines drawn last time (terminal)
        self._seen: dict[int, tuple[str, int]] = {}  # variant -> (status, tenths) printed (plain)
        self._status = ""

    def update(self, job: api.EditingBatchJob) -> None:
        if self.tty:
            self._redraw(job)
        else:
            self._lines(job)
        self.out.flush()

    def _redraw(self, job: api.EditingBatchJob) -> None:
        done = sum(1 for s in job.sub_job_list if s.status in ("Success", "Failed", "Cancelled"))
        lines = [f"job {job.job_id}  {job.status}  {done}/{len(job.sub_job_list)} done"]
        subs, counts = list(job.sub_job_list), ""
        room = max(self.rows - 2, 2)  # the header, and a line for the ones not shown
        if len(subs) > room:
            # More variants than rows: the ones moving first, then the rest as one line of counts.
            order = {"Processing": 0, "Failed": 1, "Init": 2, "Success": 3, "Cancelled": 4}
            shown = sorted(
                sorted(subs, key=lambda s: order.get(s.status, 5))[: room - 1], key=lambda s: s.index
            )
            hidden = [s for s in subs if s not in shown]
            counts = ", ".join(
                f"{n} {status}" for status, n in sorted(Counter(s.status for s in hidden).items())
            )
            subs = shown
        for s in subs:
            lines.append(f"  variant {s.index:>3} {bar(s.progress)} {s.progress:>4.0%}  {s.status}")
        if len(job.sub_job_list) > len(subs):
            lines.append(f"  … {len(job.sub_job_list) - len(subs)} more variants ({counts})")
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")  # back to the first line drawn last time
        self.out.write("".join(f"{line}\x1b[K\n" for line in lines))
        self._drawn = len(lines)

    def _lines(self, job: api.EditingBatchJob) -> None:
        if job.status != self._status:
            self.out.write(f"job {job.job_id} {job.status}\n")
            self._status = job.status
        for s in job.sub_job_list:
            now = (s.status, int(s.progress * 10 + 1e-9))
            if self._seen.get(s.index) != now:
                self.out.write(f"  variant {s.index}: {s.status} {s.progress:.0%}\n")
                self._seen[s.index] = now
