"""The gRPC service: requests in, store and relay calls, ICE-shaped messages out.

Our errors become gRPC statuses here, with google.rpc details (ErrorInfo, BadRequest).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway import status as st
from gateway.changes import BatchChanges
from gateway.errors import (
    DatabaseUnavailableError,
    FailedPreconditionError,
    FieldViolation,
    GatewayError,
    IdempotencyMismatchError,
    InvalidArgumentError,
    NotFoundError,
)
from gateway.outbox import OutboxRelay
from gateway.settings import GatewaySettings
from gateway.store.jobs import (
    JobStore,
    ListQuery,
    NewBatch,
    NewMessage,
    NewSubJob,
    PageTokenError,
    notify_address,
)
from gateway.tenants import Authenticator, UnauthenticatedError
from gateway.validate import JOB_TYPES, Roots, ValidJob, validate_submit, validate_template
from gateway.views import batch_message, template_message
from reelmill import topology
from reelmill.urlguard import BlockedAddressError, parse_networks, resolve_public
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc
from reelmill.v1 import render_pb2

log = logging.getLogger(__name__)
DOMAIN = "reelmill.dev"
WATCH_RECHECK_S = 1.0


Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def _guarded(method: Handler) -> Handler:
    """A bug becomes INTERNAL with a log line, never a stack trace sent to the client."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("%s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; the gateway log has the details")

    return wrapper


class BatchService(api_grpc.BatchMediaProducingServiceServicer):
    def __init__(
        self, settings: GatewaySettings, store: JobStore, relay: OutboxRelay, changes: BatchChanges,
        auth: Authenticator,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.auth = auth
        self.store = store
        self.relay = relay
        self.changes = changes
        self.roots = Roots(media=settings.media_roots, output=settings.output_dir,
                           networks=parse_networks(settings.allowed_networks),
                           max_count=settings.max_count)  # fmt: skip

    @_guarded
    async def SubmitBatchMediaProducingJob(
        self, request: api.SubmitBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.SubmitBatchMediaProducingJobResponse:
        try:
            tenant = self._tenant(context)
            templates = await self._templates(tenant, list(request.template_config))
            job = validate_submit(request, self.roots, templates)
            await self._check_notify_address(job.user_data)
            result = await asyncio.to_thread(self.store.submit, new_batch(tenant, job))
        except GatewayError as e:
            await _abort(context, e)
        if result.created:
            self.relay.poke()
            log.info("submitted job %s with %d variants", result.job_id, job.count)
        return api.SubmitBatchMediaProducingJobResponse(request_id=_request_id(), job_id=result.job_id)

    @_guarded
    async def GetBatchMediaProducingJob(
        self, request: api.GetBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBatchMediaProducingJobResponse:
        try:
            found = await asyncio.to_thread(self.store.get, self._tenant(context), request.job_id)
        except GatewayError as e:
            await _abort(context, e)
        return api.GetBatchMediaProducingJobResponse(
            request_id=_request_id(), editing_batch_job=batch_message(found.batch, found.sub_jobs)
        )

    @_guarded
    async def ListBatchMediaProducingJobs(
        self, request: api.ListBatchMediaProducingJobsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBatchMediaProducingJobsResponse:
        try:
            query = list_query(self._tenant(context), request)
            rows, token = await asyncio.to_thread(self.store.list, query)
        except PageTokenError as e:
            await _abort(context, InvalidArgumentError([FieldViolation("NextToken", str(e))]))
        except GatewayError as e:
            await _abort(context, e)
        return api.ListBatchMediaProducingJobsResponse(
            request_id=_request_id(), editing_batch_job_list=[batch_message(r) for r in rows],
            next_token=token, max_results=query.limit,
        )  # fmt: skip

    async def WatchBatchMediaProducingJob(
        self, request: api.WatchBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.WatchBatchMediaProducingJobResponse]:
        job_id = request.job_id
        sent = -1
        try:
            tenant = self._tenant(context)
            while True:
                revision = await asyncio.to_thread(self.store.revision, tenant, job_id)
                if revision != sent:
                    found = await asyncio.to_thread(self.store.get, tenant, job_id)
                    sent = found.batch.revision
                    yield api.WatchBatchMediaProducingJobResponse(
                        editing_batch_job=batch_message(found.batch, found.sub_jobs), revision=sent
                    )
                    if found.batch.status in st.BATCH_TERMINAL:
                        return
                if self.changes.closing.is_set():
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "gateway shutting down; watch again")
                await self.changes.wait(job_id, WATCH_RECHECK_S)
        except GatewayError as e:
            await _abort(context, e)

    @_guarded
    async def CancelBatchMediaProducingJob(
        self, request: api.CancelBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.CancelBatchMediaProducingJobResponse:
        job_id = request.job_id
        # Putting the key in the cancel bucket is a JetStream publish, so it rides the outbox too.
        marker = NewMessage(f"$KV.{topology.CANCEL_BUCKET}.{job_id}", f"cancel:{job_id}", b"cancelled")
        try:
            found = await asyncio.to_thread(self.store.cancel, self._tenant(context), job_id, marker)
        except GatewayError as e:
            await _abort(context, e)
        self.relay.poke()
        self.changes.notify(job_id)
        return api.CancelBatchMediaProducingJobResponse(
            request_id=_request_id(), editing_batch_job=batch_message(found.batch, found.sub_jobs)
        )

    @_guarded
    async def AddTemplate(self, request: api.AddTemplateRequest,
                          context: grpc.aio.ServicerContext) -> api.AddTemplateResponse:  # fmt: skip
        try:
            tenant = self._tenant(context)
            content = validate_template(request, self.roots)
            row = await asyncio.to_thread(self.store.add_template, tenant, uuid.uuid4().hex, request.name,
                                          _json(content))  # fmt: skip
        except GatewayError as e:
            await _abort(context, e)
        return api.AddTemplateResponse(request_id=_request_id(), template=template_message(row))

    @_guarded
    async def GetTemplate(self, request: api.GetTemplateRequest,
                          context: grpc.aio.ServicerContext) -> api.GetTemplateResponse:  # fmt: skip
        try:
            row = await asyncio.to_thread(self.store.template, self._tenant(context), request.template_id)
        except GatewayError as e:
            await _abort(context, e)
        return api.GetTemplateResponse(request_id=_request_id(), template=template_message(row))

    @_guarded
    async def ListTemplates(self, request: api.ListTemplatesRequest,
                            context: grpc.aio.ServicerContext) -> api.ListTemplatesResponse:  # fmt: skip
        limit = request.max_results or 10
        try:
            if not 1 <= limit <= 100:
                raise InvalidArgumentError([FieldViolation("MaxResults", "must be 1–100")])
            rows, token = await asyncio.to_thread(
                self.store.list_templates, self._tenant(context), limit, request.next_token
            )
        except PageTokenError as e:
            await _abort(context, InvalidArgumentError([FieldViolation("NextToken", str(e))]))
        except GatewayError as e:
            await _abort(context, e)
        templates = [template_message(r) for r in rows]
        return api.ListTemplatesResponse(request_id=_request_id(), templates=templates, next_token=token)

    @_guarded
    async def DeleteTemplate(self, request: api.DeleteTemplateRequest,
                             context: grpc.aio.ServicerContext) -> api.DeleteTemplateResponse:  # fmt: skip
        try:
            await asyncio.to_thread(self.store.delete_template, self._tenant(context), request.template_id)
        except GatewayError as e:
            await _abort(context, e)
        return api.DeleteTemplateResponse(request_id=_request_id())

    async def _templates(self, tenant: str, ids: list[str]) -> list[api.TemplateContent]:
        """The contents of the templates a submit names; an unknown id is a bad field, not NOT_FOUND."""
        if not ids:
            return []
        try:
            rows = await asyncio.to_thread(self.store.templates, tenant, ids)
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

    def _tenant(self, context: grpc.aio.ServicerContext) -> str:
        return self.auth.tenant(context.invocation_metadata()).name


def new_batch(tenant: str, job: ValidJob) -> NewBatch:
    """The rows of a new batch: the batch, one sub-job per variant, one render command for each."""
    batch_id = uuid.uuid4().hex
    seed = job.seed if job.seed is not None else _seed_of(batch_id)
    subs, messages = [], []
    for index in range(job.count):
        sub_id = uuid.uuid4().hex
        input_config, editing_config, output_config = job.configs_for(index, seed)
        command = render_pb2.RenderCommand(
            batch_id=batch_id, sub_job_id=sub_id, index=index, count=job.count, tenant=tenant,
            job_type=job.job_type, input_config=input_config, editing_config=editing_config,
            output_config=output_config, seed=seed,
            output_url=job.output_url(index) if job.output_config.media_url else "",
        )  # fmt: skip
        subs.append(NewSubJob(sub_id, index))
        messages.append(
            NewMessage(topology.command_subject(tenant, sub_id), sub_id, command.SerializeToString())
        )
    return NewBatch(
        id=batch_id, tenant=tenant, job_type=job.job_type, client_token=job.client_token,
        request_hash=job.request_hash, input_config=_json(job.input_config),
        editing_config=_json(job.editing_config), output_config=_json(job.output_config),
        user_data=job.user_data, seed=job.seed, sub_jobs=subs, messages=messages,
    )  # fmt: skip


def list_query(tenant: str, req: api.ListBatchMediaProducingJobsRequest) -> ListQuery:
    bad: list[FieldViolation] = []
    limit = req.max_results or 10
    if not 1 <= limit <= 100:
        bad.append(FieldViolation("MaxResults", "must be 1–100"))
    if req.sort_by not in ("", "desc", "asc"):
        bad.append(FieldViolation("SortBy", "must be desc or asc"))
    if req.status and req.status not in st.BATCH_STATUSES:
        bad.append(FieldViolation("Status", f"must be one of {', '.join(st.BATCH_STATUSES)}"))
    if req.job_type and req.job_type not in JOB_TYPES:
        bad.append(FieldViolation("JobType", f"must be one of {', '.join(JOB_TYPES)}"))
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


def _seed_of(batch_id: str) -> int:
    return int(batch_id[:16], 16)  # a random id makes a random seed, fixed once the batch exists


def _json(message: object) -> str:
    return json_format.MessageToJson(message, indent=None)  # type: ignore[arg-type]


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


_CODES = {
    InvalidArgumentError: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    NotFoundError: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND, "JOB_NOT_FOUND"),
    IdempotencyMismatchError: (
        grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS, "IdempotentParameterMismatch"),
    FailedPreconditionError: (
        grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION, "JOB_ALREADY_TERMINAL"),
    DatabaseUnavailableError: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE, "DATABASE_UNAVAILABLE"),
    UnauthenticatedError: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED, "UNAUTHENTICATED"),
}  # fmt: skip


async def _abort(context: grpc.aio.ServicerContext, error: GatewayError) -> None:
    code, rpc_code, reason = _CODES.get(
        type(error), (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL, "INTERNAL")
    )
    if code == grpc.StatusCode.UNAVAILABLE:
        log.warning("%s", error)
    details = [error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)]
    if isinstance(error, InvalidArgumentError):
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in error.violations
        ]))  # fmt: skip
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    status = status_pb2.Status(code=rpc_code, message=str(error), details=packed)
    await context.abort_with_status(rpc_status.to_status(status))
