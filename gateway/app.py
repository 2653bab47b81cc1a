"""The application layer: what the gateway does for a tenant, whichever door the request came in by.

Doors (gRPC in api.py; ICE's OpenAPI and the console to come) authenticate the caller, translate
their wire format into these calls and our errors (gateway/errors.py) into their statuses. Nothing
here knows a wire: it takes request messages of the contract and returns rows and messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import TypeVar
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import Message

from gateway import media_ids, metrics
from gateway import status as st
from gateway.changes import BatchChanges
from gateway.errors import FieldViolation, InvalidArgumentError, NotFoundError, UnavailableError
from gateway.outbox import OutboxRelay
from gateway.quotas import Limits, Quotas
from gateway.settings import GatewaySettings
from gateway.store.batches import (
    Batches,
    BatchWithSubJobs,
    ListQuery,
    NewBatch,
    NewMessage,
    NewSubJob,
)
from gateway.store.media import MediaLibrary
from gateway.store.schema import BatchRow, MediaRow, TemplateRow
from gateway.store.templates import Templates
from gateway.store.transactions import is_id, utcnow
from gateway.templates import template_ids
from gateway.userdata import notify_address
from gateway.validate import Roots, ValidJob, validate_media, validate_submit, validate_template
from reelmill import design, jobspec, topology, tracing
from reelmill import roots as roots_rule
from reelmill.jobspec import JOB_TYPES
from reelmill.urlguard import BlockedAddressError, parse_networks, resolve_public
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import render_pb2

log = logging.getLogger(__name__)
SubmitRequest = api.SubmitBatchMediaProducingJobRequest
M = TypeVar("M", bound=Message)
# Where requests take media, for MediaIds: (oneof, its JSON-string field, ICE's name for paths).
SUBMIT_MEDIA = (
    ("input", "input_config_json", "InputConfig"),
    ("editing", "editing_config_json", "EditingConfig"),
)
TEMPLATE_MEDIA = (("content", "config_json", "Config"),)
PROBE_TIMEOUT_S = 60.0  # a worker fetches (http media: downloads) and decodes the first frame
# (tenant, url, timeout_s) -> what a worker found; the gateway bus's probe_media.
Probe = Callable[[str, str, float], Awaitable[render_pb2.MediaProbeReply]]
# (request, timeout_s) -> a worker's plans of a batch; the gateway bus's plan_batch.
Planner = Callable[[render_pb2.PlanRequest, float], Awaitable[render_pb2.PlanReply]]
PLAN_TIMEOUT_S = 60.0  # a worker fetches and probes the batch's media and speaks its texts
COMMAND_SLACK_BYTES = 4096  # what a variant's command adds to its config set's: ids, index, output URL
WATCH_RECHECK_S = 1.0
MAX_PAGE = 100
DEFAULT_PAGE = 10


@dataclass(frozen=True)
class Submitted:
    job_id: str
    ignored_fields: tuple[str, ...]  # fields neither ICE's documents nor reelmill know
    combinations: int = 1  # how many variants can differ by their choices (reelmill/design.py)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Planned:
    """A dry run's answer: per variant its plan (JSON) and render-time estimate."""

    plans: list[str]
    render_seconds: list[float]
    ignored_fields: tuple[str, ...]
    combinations: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    rows: list[BatchRow]
    next_token: str
    limit: int


class Application:
    def __init__(self, settings: GatewaySettings, batches: Batches, templates: Templates, relay: OutboxRelay,
                 changes: BatchChanges, media: MediaLibrary, probe: Probe,
                 planner: Planner | None = None, quotas: Quotas | None = None,
                 s3_prefixes: Mapping[str, tuple[str, ...]] | None = None) -> None:  # fmt: skip
        self.batches = batches
        # s3:// output prefixes: a tenant's own (keys file), else the settings' templates ({tenant}).
        self.s3_prefixes = dict(s3_prefixes or {})
        self.s3_templates = tuple(p.strip() for p in settings.output_s3_prefixes.split(",") if p.strip())
        self.quotas = quotas or Quotas(Limits(), {})
        self.templates = templates
        self.media = media
        self.probe = probe
        self.planner = planner
        self.relay = relay
        self.changes = changes
        self.roots = Roots(media=settings.media_roots, output=settings.output_dir,
                           networks=parse_networks(settings.allowed_networks),
                           max_count=settings.max_count)  # fmt: skip

    def roots_for(self, tenant: str) -> Roots:
        """Where this tenant's URLs may point: its own output folder and S3 prefixes (issue 13)."""
        own = self.s3_prefixes.get(tenant)
        prefixes = (
            own if own is not None else tuple(roots_rule.s3_prefix_of(t, tenant) for t in self.s3_templates)
        )
        return replace(
            self.roots, output=roots_rule.tenant_output(self.roots.output, tenant), s3_prefixes=prefixes
        )

    async def submit(self, tenant: str, request: api.SubmitBatchMediaProducingJobRequest) -> Submitted:
        """A new batch, or the one this ClientToken made before (one trace: its commands carry it)."""
        with tracing.span("reelmill.submit", tenant=tenant):
            return await self._submit(tenant, request)

    async def _validated(self, tenant: str, request: api.SubmitBatchMediaProducingJobRequest) -> ValidJob:
        """The job a Submit (or its dry run) asks for: MediaIds and templates resolved, validated."""
        request = await self._resolve_media(tenant, _with_template_ids(request), SUBMIT_MEDIA)
        templates = await self._templates(tenant, list(request.template_config))
        return validate_submit(request, self.roots_for(tenant), templates)

    async def _submit(self, tenant: str, request: api.SubmitBatchMediaProducingJobRequest) -> Submitted:
        job = await self._validated(tenant, request)
        await self._check_notify_address(job.user_data)
        check_size(plan_request(tenant, job))  # before making a hundred commands of a too large job
        new = new_batch(tenant, job)
        result = await asyncio.to_thread(self.batches.submit, new, self.quotas.of(tenant))
        if result.created:
            self.relay.poke()
            log.info("submitted job %s with %d variants", result.job_id, job.count)
        tracing.annotate(job_id=result.job_id, variants=job.count)
        if job.ignored_fields:
            log.info("job %s: ignored fields unknown to ICE and reelmill: %s", result.job_id,
                     ", ".join(job.ignored_fields))  # fmt: skip
        combos, warnings = variety_of(job)
        return Submitted(result.job_id, job.ignored_fields, combos, warnings)

    async def plan(self, tenant: str, request: api.SubmitBatchMediaProducingJobRequest) -> Planned:
        """A dry run: the request validated as Submit would, then every variant planned by a worker
        (media probed, texts spoken, fonts measured); nothing is stored or queued."""
        job = await self._validated(tenant, request)
        if self.planner is None:
            raise UnavailableError("this gateway has no worker connection for dry runs")
        reply = await self.planner(plan_request(tenant, job), PLAN_TIMEOUT_S)
        if reply.error_code:
            raise InvalidArgumentError(
                [FieldViolation("InputConfig", f"{reply.error_code}: {reply.error_message}")]
            )
        combos, warnings = variety_of(job)
        return Planned(
            list(reply.plan_json), list(reply.render_seconds), job.ignored_fields, combos, warnings
        )

    async def get(self, tenant: str, job_id: str) -> BatchWithSubJobs:
        return await asyncio.to_thread(self.batches.get, tenant, job_id)

    async def page(self, tenant: str, request: api.ListBatchMediaProducingJobsRequest) -> Page:
        query = list_query(tenant, request)
        rows, token = await asyncio.to_thread(self.batches.page, query)
        return Page(rows, token, query.limit)

    async def watch(self, tenant: str, job_id: str) -> AsyncIterator[BatchWithSubJobs]:
        """The batch now, then each time it changes, until it ends (or the gateway stops:
        UnavailableError, so that the client watches again elsewhere)."""
        sent = -1
        while True:
            revision = await asyncio.to_thread(self.batches.revision, tenant, job_id)
            if revision != sent:
                found = await asyncio.to_thread(self.batches.get, tenant, job_id)
                sent = found.batch.revision
                yield found
                if found.batch.status in st.BATCH_TERMINAL:
                    return
            if self.changes.closing.is_set():
                raise UnavailableError("gateway shutting down; watch again")
            await self.changes.wait(job_id, WATCH_RECHECK_S)

    async def cancel(self, tenant: str, job_id: str) -> BatchWithSubJobs:
        # Putting the key in the cancel bucket is a JetStream publish, so it rides the outbox too.
        marker = NewMessage(f"$KV.{topology.CANCEL_BUCKET}.{job_id}", f"cancel:{job_id}", b"cancelled")
        found = await asyncio.to_thread(self.batches.cancel, tenant, job_id, marker)
        # Sub-jobs no worker took end here, with no event to count them by (gateway/events.py counts
        # the others as their workers report).
        metrics.SUB_JOBS_FINISHED.labels(st.CANCELLED).inc(found.cancelled_now)
        self.relay.poke()
        self.changes.notify(job_id)
        return found

    async def add_template(self, tenant: str, request: api.AddTemplateRequest) -> TemplateRow:
        request = await self._resolve_media(tenant, request, TEMPLATE_MEDIA)
        content = validate_template(request, self.roots_for(tenant))
        return await asyncio.to_thread(
            self.templates.add, tenant, uuid.uuid4().hex, request.name, message_json(content)
        )

    async def template(self, tenant: str, template_id: str) -> TemplateRow:
        return await asyncio.to_thread(self.templates.get, tenant, template_id)

    async def templates_page(self, tenant: str, limit: int, page_token: str) -> tuple[list[TemplateRow], str]:
        return await asyncio.to_thread(self.templates.page, tenant, page_size(limit), page_token)

    async def template_count(self, tenant: str) -> int:
        return await asyncio.to_thread(self.templates.count, tenant)

    async def delete_template(self, tenant: str, template_id: str) -> None:
        await asyncio.to_thread(self.templates.delete, tenant, template_id)

    # -- the media library

    async def register_media(self, tenant: str, request: api.RegisterMediaRequest) -> MediaRow:
        """A MediaId for a URL, once a worker has probed it: media a render could not read are refused
        now, naming InputURL with the ErrorCode the render would have failed with."""
        validate_media(request, self.roots)
        found = await self.probe(tenant, request.input_url, PROBE_TIMEOUT_S)
        if found.error_code:
            bad = f"{found.error_code}: {found.error_message}"
            raise InvalidArgumentError([FieldViolation("InputURL", bad)])
        kind = "image" if found.is_image else "video" if found.has_video else "audio"
        if request.media_type and request.media_type != kind:
            raise InvalidArgumentError([FieldViolation("MediaType", f"the media is {kind}")])
        row = MediaRow(id=uuid.uuid4().hex, tenant=tenant, input_url=request.input_url, media_type=kind,
                       title=request.title, status="Normal", duration_s=found.duration_s, width=found.width,
                       height=found.height, has_audio=found.has_audio, created_at=utcnow())  # fmt: skip
        return await asyncio.to_thread(self.media.add, row)

    async def media_item(self, tenant: str, media_id: str) -> MediaRow:
        return await asyncio.to_thread(self.media.get, tenant, media_id)

    async def media_page(self, tenant: str, limit: int, page_token: str) -> tuple[list[MediaRow], str]:
        return await asyncio.to_thread(self.media.page, tenant, page_size(limit), page_token)

    async def delete_media(self, tenant: str, media_ids: list[str]) -> None:
        for media_id in media_ids:
            await asyncio.to_thread(self.media.delete, tenant, media_id)

    async def _resolve_media(self, tenant: str, request: M, parts: Sequence[tuple[str, str, str]]) -> M:
        """The request with the MediaIds of its configs replaced by their URLs (gateway/media_ids.py).
        `parts`: (oneof, its JSON-string field, ICE's name for paths) of each config that takes media."""
        docs: dict[tuple[str, str], dict[str, object]] = {}
        for oneof, json_field, name in parts:
            which = request.WhichOneof(oneof)
            if which is None:
                continue
            if which == json_field:
                try:
                    doc = json.loads(getattr(request, which))
                except ValueError:
                    continue  # validation says what is wrong with it
            else:
                doc = json_format.MessageToDict(getattr(request, which))
            if isinstance(doc, dict):
                docs[(json_field, name)] = doc
        ids = set().union(*(media_ids.media_ids(doc) for doc in docs.values()))
        if not ids:
            return request
        urls = await asyncio.to_thread(self.media.urls, tenant, sorted(ids))
        resolved, bad = type(request)(), []
        resolved.CopyFrom(request)
        for (json_field, name), doc in docs.items():
            bad += media_ids.substitute(doc, urls, name)
            setattr(resolved, json_field, json.dumps(doc, ensure_ascii=False))
        if bad:
            raise InvalidArgumentError(bad)
        return resolved

    async def _templates(self, tenant: str, ids: list[str]) -> list[api.TemplateContent]:
        """The contents of the templates a submit names; an unknown id is a bad field, not NOT_FOUND."""
        if not ids:
            return []
        try:
            rows = await asyncio.to_thread(self.templates.named, tenant, ids)
        except NotFoundError as e:
            bad = [FieldViolation(f"TemplateConfig[{i}]", f"no template {t!r} in this tenant")
                   for i, t in enumerate(ids) if t in str(e)]  # fmt: skip
            raise InvalidArgumentError(bad or [FieldViolation("TemplateConfig", str(e))]) from e
        return [json_format.Parse(r.config, api.TemplateContent()) for r in rows]

    async def _check_notify_address(self, user_data: str) -> None:
        """The callback host must resolve to allowed addresses now (and is checked again at delivery)."""
        url = notify_address(user_data)
        if not url:
            return
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await asyncio.to_thread(resolve_public, parts.hostname or "", port, self.roots.networks)
        except BlockedAddressError as e:
            raise InvalidArgumentError([FieldViolation("UserData.NotifyAddress", str(e))]) from e


def _with_template_ids(request: SubmitRequest) -> SubmitRequest:
    """ICE's TemplateConfig string (a JSON array of ids) read into the list of template ids."""
    if not request.template_config_json:
        return request
    merged = SubmitRequest()
    merged.CopyFrom(request)
    merged.template_config.extend(template_ids(request.template_config_json))
    merged.template_config_json = ""
    return merged


def new_batch(tenant: str, job: ValidJob) -> NewBatch:
    """The rows of a new batch: the batch, one sub-job per variant, one render command for each."""
    batch_id = uuid.uuid4().hex
    seed = job.seed if job.seed is not None else _seed_of(batch_id)
    subs, messages = [], []
    specs = [jobspec.encode(jobspec.normalise(*configs)) for configs in job.config_sets]
    for index in range(job.count):
        sub_id = uuid.uuid4().hex
        which = job.config_set_of(index, seed)
        input_config, editing_config, output_config = job.config_sets[which]
        command = render_pb2.RenderCommand(
            batch_id=batch_id, sub_job_id=sub_id, index=index, count=job.count, tenant=tenant,
            input_config=input_config, editing_config=editing_config,
            output_config=output_config, seed=seed,
            output_url=job.output_url(index) if job.output_config.media_url else "",
            spec=specs[which], traceparent=tracing.traceparent(),
        )  # fmt: skip
        subs.append(NewSubJob(sub_id, index))
        messages.append(
            NewMessage(
                topology.command_subject(tenant, sub_id, job.priority), sub_id, command.SerializeToString()
            )
        )
    return NewBatch(
        id=batch_id, tenant=tenant, job_type=job.job_type, client_token=job.client_token,
        request_hash=job.request_hash, input_config=message_json(job.input_config),
        editing_config=message_json(job.editing_config), output_config=message_json(job.output_config),
        user_data=job.user_data, seed=job.seed, sub_jobs=subs, messages=messages,
    )  # fmt: skip


def check_size(sets: render_pb2.PlanRequest) -> None:
    """A job whose render commands could never be published is refused at Submit: one over the
    stream's message limit would block the outbox relay for every tenant, retried for ever, and a
    batch of them would fill the database (a 1.2 MB request × 100 variants wrote 121 MB). Measured on
    one command per config set (a variant's adds ids and its URL: SLACK bytes at most)."""
    sizes = [c.ByteSize() + COMMAND_SLACK_BYTES for c in sets.config_sets]
    largest = max(sizes, default=0)
    total = sum(sizes[i] for i in sets.config_set_of)
    if largest > topology.MAX_COMMAND_BYTES:
        raise InvalidArgumentError([FieldViolation(
            "InputConfig", f"the job is too large to render: {largest} bytes for each variant, at most "
            f"{topology.MAX_COMMAND_BYTES} (fewer or shorter media URLs, texts or groups)")])  # fmt: skip
    if total > topology.MAX_BATCH_COMMAND_BYTES:
        raise InvalidArgumentError([FieldViolation(
            "OutputConfig.Count", f"the batch is too large: {total} bytes of render commands, at most "
            f"{topology.MAX_BATCH_COMMAND_BYTES} (fewer variants, or a smaller job)")])  # fmt: skip


def plan_request(tenant: str, job: ValidJob) -> render_pb2.PlanRequest:
    """What a worker needs to plan every variant of the job, as the batch's commands would say it:
    one command per config set (the request's, or one per template) and which set each variant takes."""
    seed = job.seed if job.seed is not None else _seed_of(uuid.uuid4().hex)
    request = render_pb2.PlanRequest()
    for input_config, editing_config, output_config in job.config_sets:
        request.config_sets.append(
            render_pb2.RenderCommand(
                count=job.count,
                tenant=tenant,
                seed=seed,
                input_config=input_config,
                editing_config=editing_config,
                output_config=output_config,
                spec=jobspec.encode(jobspec.normalise(input_config, editing_config, output_config)),
            )  # fmt: skip
        )
    request.config_set_of.extend(job.config_set_of(index, seed) for index in range(job.count))
    return request


def page_size(max_results: int) -> int:
    """MaxResults of a List call: 1–MAX_PAGE, DEFAULT_PAGE when not given."""
    limit = max_results or DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgumentError([FieldViolation("MaxResults", f"must be 1–{MAX_PAGE}")])
    return limit


def list_query(tenant: str, req: api.ListBatchMediaProducingJobsRequest) -> ListQuery:
    bad: list[FieldViolation] = []
    limit = req.max_results or DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:  # page_size's rule, reported with the other fields' problems
        bad.append(FieldViolation("MaxResults", f"must be 1–{MAX_PAGE}"))
    if req.sort_by not in ("", "desc", "asc"):
        bad.append(FieldViolation("SortBy", "must be desc or asc"))
    if req.status and req.status not in st.BATCH_STATUSES:
        bad.append(FieldViolation("Status", f"must be one of {', '.join(st.BATCH_STATUSES)}"))
    if req.job_type and req.job_type not in JOB_TYPES:
        bad.append(FieldViolation("JobType", f"must be one of {', '.join(JOB_TYPES)}"))
    if req.job_id and not is_id(req.job_id):
        bad.append(FieldViolation("JobId", "not a job id (32 hexadecimal digits)"))
    start = req.start_time.ToDatetime(UTC) if req.HasField("start_time") else None
    end = req.end_time.ToDatetime(UTC) if req.HasField("end_time") else None
    if start and end and end <= start:
        bad.append(FieldViolation("EndTime", "must be after StartTime"))
    if bad:
        raise InvalidArgumentError(bad)
    return ListQuery(
        tenant=tenant, job_id=req.job_id, job_type=req.job_type, status=req.status, start_time=start,
        end_time=end, ascending=req.sort_by == "asc", limit=limit, page_token=req.next_token,
    )  # fmt: skip


def message_json(message: Message) -> str:
    """A config as stored: compact JSON with the ICE (json_name) field names."""
    return json_format.MessageToJson(message, indent=None)


def _seed_of(batch_id: str) -> int:
    return int(batch_id[:16], 16)  # a random id makes a random seed, fixed once the batch exists


COMBINATIONS_CAP = 2**31 - 1


def combinations(job: ValidJob) -> int:
    """How many variants of the job can differ by their choices alone: per config set (a template
    each, or the request's), the product of its list sizes."""
    total = 0
    for ic, ec, oc in job.config_sets:
        total += design.job_combinations(ic, jobspec.normalise(ic, ec, oc))
    # The product of 19 lists of 26 is 26^19: the answer's field is an int32, and any count past a
    # batch's 100 variants says the same ("plenty"), so it stops at the field's largest value.
    return min(total, COMBINATIONS_CAP)


def variety_of(job: ValidJob) -> tuple[int, tuple[str, ...]]:
    """How many variants can differ by their choices, and what Submit warns of: a Script job's Count
    above that (Smart_Mix variants differ by their order of the pool's pieces, as its media allow)."""
    combos = combinations(job)
    return combos, repeat_warnings(job.count, combos) if job.job_type == jobspec.SCRIPT else ()


def repeat_warnings(count: int, combos: int) -> tuple[str, ...]:
    if count <= combos:
        return ()
    return (
        f"Count {count} is more than the {combos} combinations of this job's lists (media per group, "
        "titles, sub-headings, speech texts, voices, stickers, music, backgrounds, filters, "
        f"transitions): variants past {combos} differ only where their clips split into enough pieces; "
        "Get names any variant that repeats an earlier one (SubJob.RepeatOf)",
    )
