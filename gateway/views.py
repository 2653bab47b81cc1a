"""Stored rows as the API's messages (ICE-shaped EditingBatchJob)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import status as st
from gateway import userdata
from gateway.store.schema import BatchRow, MediaRow, SubJobRow, TemplateRow
from reelmill import jobspec
from reelmill.v1 import batch_service_pb2 as api


def batch_message(batch: BatchRow, sub_jobs: list[SubJobRow] | None = None) -> api.EditingBatchJob:
    job = api.EditingBatchJob(
        job_id=batch.id, job_type=batch.job_type, status=batch.status, user_data=batch.user_data,
        extend=api.Extend(error_code=batch.error_code, error_message=batch.error_message,
                          distinct_variants=batch.distinct_variants),
        create_time=_ts(batch.created_at), modified_time=_ts(batch.modified_at),
    )  # fmt: skip
    json_format.Parse(batch.input_config, job.input_config)
    json_format.Parse(batch.editing_config, job.editing_config)
    json_format.Parse(batch.output_config, job.output_config)
    job.extend.substitutions.extend(
        jobspec.substitutions(job.input_config, job.editing_config, job.output_config)
    )
    if queue := userdata.notify_queue(batch.user_data):
        job.extend.substitutions.append(f"UserData.NotifyAddress: {queue} → not delivered (an Alibaba Cloud "
                                        "MNS queue; give an http(s) URL for a webhook)")  # fmt: skip
    if batch.completed_at is not None:
        job.complete_time.CopyFrom(_ts(batch.completed_at))
        job.complete_time_text = ice_time(batch.completed_at)
    job.create_time_text, job.modified_time_text = ice_time(batch.created_at), ice_time(batch.modified_at)
    job.input_config_json, job.editing_config_json = ice_json(job.input_config), ice_json(job.editing_config)
    job.output_config_json, job.extend_json = ice_json(job.output_config), ice_json(job.extend)
    if batch.seed is not None:
        job.seed = int(batch.seed)
    repeats = repeat_of(sub_jobs or [])
    for sub in sub_jobs or ():
        job.sub_job_list.append(
            api.SubJob(
                job_id=sub.id,
                index=sub.idx,
                status=sub.status,
                media_url=sub.media_url,
                duration=sub.duration_s,
                error_code=sub.error_code,
                error_message=sub.error_message,
                progress=sub.progress,
                plan=sub.plan,
                media_id=sub.id if sub.status == st.SUCCESS else "",
                repeat_of=repeats.get(sub.idx),
                qc=quality_report(sub.qc, distinct=sub.idx not in repeats),
                poster_url=poster_url(sub.media_url) if sub.status == st.SUCCESS else "",
            )  # fmt: skip
        )
    return job


def poster_url(media_url: str) -> str:
    """Where the worker put an output's poster frame: beside it, .jpg for .mp4 (worker/render/poster.py)."""
    head, dot, _ = media_url.rpartition(".")
    return f"{head}.jpg" if dot else ""


def quality_report(qc_json: str, distinct: bool) -> api.QualityReport | None:
    """A worker's quality report (JSON in QualityReport's mapping); fields of a newer worker that this
    gateway does not know are left out, a report that does not parse is none."""
    if not qc_json:
        return None
    report = api.QualityReport()
    try:
        json_format.Parse(qc_json, report, ignore_unknown_fields=True)
    except json_format.ParseError:
        return None
    report.distinct = distinct
    return report


def repeat_of(sub_jobs: list[SubJobRow]) -> dict[int, int]:
    """Variant → the earliest variant that looks and sounds the same: the same plan (fingerprint), or
    an output that decodes to the same picture and sound (digest), as far as known so far."""
    # The plan's fingerprint (same plan), and the output's digest (same decoded picture and sound).
    plans = {sub.idx: [f"plan:{k}" for k in _field(sub.plan, "Fingerprint")] for sub in sub_jobs}
    return first_alike(
        {sub.idx: plans[sub.idx] + [f"out:{k}" for k in _field(sub.qc, "Digest")] for sub in sub_jobs}
    )


def first_alike(keys: dict[int, list[str]]) -> dict[int, int]:
    """Variant → the earliest variant that shares one of its keys (variants without any are no repeats)."""
    first: dict[str, int] = {}
    out: dict[int, int] = {}
    for index in sorted(keys):
        earlier = [first[k] for k in keys[index] if k in first]
        if earlier:
            out[index] = min(earlier)
        for k in keys[index]:
            first.setdefault(k, index)
    return out


def plan_messages(plans: list[str], render_seconds: list[float]) -> list[api.VariantPlan]:
    """A dry run's plans, each with the earlier variant it repeats (the same plan fingerprint)."""
    repeats = first_alike({i: _field(plan, "Fingerprint") for i, plan in enumerate(plans)})
    return [
        api.VariantPlan(index=i, plan=plan, render_seconds=seconds, repeat_of=repeats.get(i))
        for i, (plan, seconds) in enumerate(zip(plans, render_seconds, strict=True))
    ]


def _field(doc_json: str, name: str) -> list[str]:
    """[the string field `name` of a JSON object], or [] (none, or JSON from a worker without it)."""
    if not doc_json:
        return []
    try:
        doc = json.loads(doc_json)
    except ValueError:
        return []
    value = doc.get(name) if isinstance(doc, dict) else None
    return [value] if isinstance(value, str) and value else []


def template_message(row: TemplateRow) -> api.Template:
    template = api.Template(template_id=row.id, name=row.name, create_time=_ts(row.created_at))
    json_format.Parse(row.config, template.config)
    return template


def media_message(row: MediaRow) -> api.Media:
    return api.Media(media_id=row.id, input_url=row.input_url, media_type=row.media_type, title=row.title,
                     status=row.status, duration=row.duration_s, width=row.width, height=row.height,
                     has_audio=row.has_audio, create_time=_ts(row.created_at))  # fmt: skip


def ice_json(message: Message) -> str:
    """A message as ICE gives configs: compact JSON, ICE's names, in a string."""
    return json.dumps(json_format.MessageToDict(message), ensure_ascii=False, separators=(",", ":"))


def ice_time(value: datetime) -> str:
    """A time as ICE gives it: UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts
