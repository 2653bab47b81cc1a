"""What the console's pages show, made from the API's messages: pure (links are made by a function the
caller passes), so that every page and every live update renders from the same facts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reelmill.v1 import batch_service_pb2 as api

TERMINAL = frozenset({"Finished", "Failed", "Cancelled"})
SUB_TERMINAL = frozenset({"Success", "Failed", "Cancelled"})


@dataclass(frozen=True)
class JobRow:
    job_id: str
    status: str
    job_type: str
    created: str
    variants: int
    done: int
    failed: int

    @property
    def key(self) -> tuple[str, str, int, int]:
        return self.job_id, self.status, self.done, self.failed


def job_row(job: api.EditingBatchJob) -> JobRow:
    subs = job.sub_job_list
    done = sum(s.status == "Success" for s in subs)
    failed = sum(s.status == "Failed" for s in subs)
    return JobRow(job.job_id, job.status, job.job_type, job.create_time_text or "", len(subs), done, failed)


@dataclass(frozen=True)
class Shot:
    source: str
    group: str
    start: float
    cut_in: float
    cut_out: float
    speed: float


@dataclass(frozen=True)
class PlanView:
    duration: float = 0.0
    shots: tuple[Shot, ...] = ()
    texts: tuple[tuple[str, str], ...] = ()  # (kind, text)
    speech: tuple[tuple[str, str, float], ...] = ()  # (voice, text, seconds)
    music: str = ""


def plan_view(plan_json: str) -> PlanView | None:
    try:
        plan = json.loads(plan_json) if plan_json else None
    except ValueError:
        return None
    if not isinstance(plan, dict):
        return None
    shots = tuple(
        Shot(
            os.path.basename(str(s.get("Media", ""))),
            str(s.get("Group", "")),
            float(s.get("Start", 0)),
            float(s.get("In", 0)),
            float(s.get("Out", 0)),
            float(s.get("Speed", 1)),
        )  # fmt: skip
        for s in plan.get("Shots", [])
    )
    texts = tuple((str(t.get("Kind", "")), str(t.get("Text", ""))) for t in plan.get("Texts", []))
    speech = tuple(
        (str(s.get("Voice", "")), str(s.get("Text", "")), float(s.get("Duration", 0)))
        for s in plan.get("Speech", [])
    )
    music = plan.get("Music") or {}
    music_name = os.path.basename(str(music.get("Media", ""))) if isinstance(music, dict) else ""
    return PlanView(float(plan.get("Duration", 0)), shots, texts, speech, music_name)


@dataclass(frozen=True)
class Variant:
    index: int
    sub_job_id: str
    status: str
    progress: int  # percent
    duration: float
    video: str  # a link the browser can play ("" until Success)
    poster: str
    size_bytes: int | None
    error_code: str
    error_message: str
    repeat_of: int | None
    plan: PlanView | None
    qc: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[object, ...]:
        """What, once sent to a page, needs no sending again (a playing video is never re-rendered)."""
        return self.status, self.progress, self.error_code, self.plan is not None, bool(self.qc)


def variant(sub: api.SubJob, link: Callable[[str], str], size: Callable[[str], int | None]) -> Variant:
    success = sub.status == "Success"
    qc: dict[str, Any] = {}
    if sub.HasField("qc"):
        q = sub.qc
        qc = {"Loudness (LUFS)": round(q.loudness, 1), "True peak (dBTP)": round(q.true_peak, 1),
              "Picture (s)": round(q.duration, 2), "Sound ends after picture (s)": round(q.av_end_offset, 3),
              "Black runs": len(q.black_runs), "Frozen runs": len(q.frozen_runs),
              "Text overlaps": q.text_overlaps}  # fmt: skip
    return Variant(
        index=sub.index, sub_job_id=sub.job_id, status=sub.status, progress=round(sub.progress * 100),
        duration=round(sub.duration, 2), video=link(sub.media_url) if success else "",
        poster=link(sub.poster_url) if success and sub.poster_url else "",
        size_bytes=size(sub.media_url) if success else None, error_code=sub.error_code,
        error_message=sub.error_message, repeat_of=sub.repeat_of if sub.HasField("repeat_of") else None,
        plan=plan_view(sub.plan), qc=qc,
    )  # fmt: skip


def counts(job: api.EditingBatchJob) -> dict[str, int]:
    found: dict[str, int] = {}
    for s in job.sub_job_list:
        found[s.status] = found.get(s.status, 0) + 1
    return found
