"""The gRPC door: the caller's API key to a tenant, requests to the application layer (app.py),
rows to ICE-shaped messages, and our errors to gRPC statuses with google.rpc details (ErrorInfo,
BadRequest), all in one place (`_abort`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.app import Application
from gateway.errors import (
    FieldViolation,
    GatewayError,
    InvalidArgumentError,
    QuotaExceededError,
    Status,
)
from gateway.tenants import Authenticator
from gateway.views import batch_message, media_message, plan_messages, template_message
from reelmill import logs
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

log = logging.getLogger(__name__)
DOMAIN = "reelmill.dev"

# Each status of the error tree on the gRPC wire (the code and google.rpc's number for it).
GRPC_CODES: dict[Status, tuple[grpc.StatusCode, int]] = {
    Status.INVALID_ARGUMENT: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    Status.NOT_FOUND: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    Status.ALREADY_EXISTS: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    Status.FAILED_PRECONDITION: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    Status.UNAUTHENTICATED: (grpc.StatusCode.UNAUTHENTICATED, code_pb2.UNAUTHENTICATED),
    Status.UNAVAILABLE: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    Status.RESOURCE_EXHAUSTED: (grpc.StatusCode.RESOURCE_EXHAUSTED, code_pb2.RESOURCE_EXHAUSTED),
    Status.INTERNAL: (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL),
}

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)
Unary = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


def _unary(method: Unary[Req, Resp]) -> Unary[Req, Resp]:
    """Our errors become their statuses; a bug becomes INTERNAL with a log line, never a stack
    trace sent to the client."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except GatewayError as e:
            await _abort(context, e)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("%s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; the gateway log has the details")
        raise AssertionError("abort raises")  # pragma: no cover

    return wrapper


class BatchService(api_grpc.BatchMediaProducingServiceServicer):
    def __init__(self, app: Application, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth
        self._listing = asyncio.Semaphore(LISTS_AT_ONCE)

    @_unary
    async def SubmitBatchMediaProducingJob(
        self, request: api.SubmitBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.SubmitBatchMediaProducingJobResponse:
        done = await self.app.submit(self._tenant(context), request)
        return api.SubmitBatchMediaProducingJobResponse(
            request_id=_request_id(), job_id=done.job_id, ignored_fields=done.ignored_fields,
            combinations=done.combinations, warnings=done.warnings,
        )  # fmt: skip

    @_unary
    async def PlanBatchMediaProducingJob(
        self, request: api.PlanBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.PlanBatchMediaProducingJobResponse:
        done = await self.app.plan(self._tenant(context), request.job)
        return api.PlanBatchMediaProducingJobResponse(
            request_id=_request_id(), plans=plan_messages(done.plans, done.render_seconds),
            combinations=done.combinations, warnings=done.warnings,
            ignored_fields=done.ignored_fields, render_seconds=round(sum(done.render_seconds), 2),
        )  # fmt: skip

    @_unary
    async def GetBatchMediaProducingJob(
        self, request: api.GetBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBatchMediaProducingJobResponse:
        found = await self.app.get(self._tenant(context), request.job_id)
        job = await asyncio.to_thread(batch_message, found.batch, found.sub_jobs)
        return api.GetBatchMediaProducingJobResponse(request_id=_request_id(), editing_batch_job=job)

    @_unary
    async def ListBatchMediaProducingJobs(
        self, request: api.ListBatchMediaProducingJobsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListBatchMediaProducingJobsResponse:
        tenant = self._tenant(context)
        # A page's documents are bounded (store.batches.PAGE_DOCUMENT_BYTES) and so many pages are
        # built at once, in threads: a List's memory has a ceiling, and other tenants' calls go on.
        async with self._listing:
            page = await self.app.page(tenant, request)
            jobs = await asyncio.to_thread(lambda: [batch_message(r) for r in page.rows])
        return api.ListBatchMediaProducingJobsResponse(
            request_id=_request_id(), editing_batch_job_list=jobs,
            next_token=page.next_token, max_results=page.limit,
        )  # fmt: skip

    async def WatchBatchMediaProducingJob(
        self, request: api.WatchBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.WatchBatchMediaProducingJobResponse]:
        try:
            async for found in self.app.watch(self._tenant(context), request.job_id):
                job = await asyncio.to_thread(batch_message, found.batch, found.sub_jobs)
                yield api.WatchBatchMediaProducingJobResponse(
                    editing_batch_job=job, revision=found.batch.revision
                )
        except GatewayError as e:
            await _abort(context, e)

    @_unary
    async def CancelBatchMediaProducingJob(
        self, request: api.CancelBatchMediaProducingJobRequest, context: grpc.aio.ServicerContext
    ) -> api.CancelBatchMediaProducingJobResponse:
        found = await self.app.cancel(self._tenant(context), request.job_id)
        return api.CancelBatchMediaProducingJobResponse(
            request_id=_request_id(), editing_batch_job=batch_message(found.batch, found.sub_jobs)
        )

    @_unary
    async def AddTemplate(self, request: api.AddTemplateRequest,
                          context: grpc.aio.ServicerContext) -> api.AddTemplateResponse:  # fmt: skip
        row = await self.app.add_template(self._tenant(context), request)
        return api.AddTemplateResponse(request_id=_request_id(), template=template_message(row))

    @_unary
    async def GetTemplate(self, request: api.GetTemplateRequest,
                          context: grpc.aio.ServicerContext) -> api.GetTemplateResponse:  # fmt: skip
        row = await self.app.template(self._tenant(context), request.template_id)
        return api.GetTemplateResponse(request_id=_request_id(), template=template_message(row))

    @_unary
    async def ListTemplates(self, request: api.ListTemplatesRequest,
                            context: grpc.aio.ServicerContext) -> api.ListTemplatesResponse:  # fmt: skip
        rows, token = await self.app.templates_page(
            self._tenant(context), request.max_results, request.next_token
        )
        templates = [template_message(r) for r in rows]
        return api.ListTemplatesResponse(request_id=_request_id(), templates=templates, next_token=token)

    @_unary
    async def DeleteTemplate(self, request: api.DeleteTemplateRequest,
                             context: grpc.aio.ServicerContext) -> api.DeleteTemplateResponse:  # fmt: skip
        await self.app.delete_template(self._tenant(context), request.template_id)
        return api.DeleteTemplateResponse(request_id=_request_id())

    @_unary
    async def RegisterMedia(self, request: api.RegisterMediaRequest,
                            context: grpc.aio.ServicerContext) -> api.RegisterMediaResponse:  # fmt: skip
        row = await self.app.register_media(self._tenant(context), request)
        return api.RegisterMediaResponse(request_id=_request_id(), media_id=row.id, media=media_message(row))

    @_unary
    async def GetMedia(self, request: api.GetMediaRequest,
                       context: grpc.aio.ServicerContext) -> api.GetMediaResponse:  # fmt: skip
        row = await self.app.media_item(self._tenant(context), request.media_id)
        return api.GetMediaResponse(request_id=_request_id(), media=media_message(row))

    @_unary
    async def ListMedia(self, request: api.ListMediaRequest,
                        context: grpc.aio.ServicerContext) -> api.ListMediaResponse:  # fmt: skip
        rows, token = await self.app.media_page(
            self._tenant(context), request.max_results, request.next_token
        )
        return api.ListMediaResponse(request_id=_request_id(), media_list=[media_message(r) for r in rows],
                                     next_token=token)  # fmt: skip

    @_unary
    async def DeleteMedia(self, request: api.DeleteMediaRequest,
                          context: grpc.aio.ServicerContext) -> api.DeleteMediaResponse:  # fmt: skip
        await self.app.delete_media(self._tenant(context), list(request.media_ids))
        return api.DeleteMediaResponse(request_id=_request_id())

    def _tenant(self, context: grpc.aio.ServicerContext) -> str:
        tenant = self.auth.tenant(context.invocation_metadata()).name
        logs.bind_request(tenant=tenant)  # the log lines of this call name it
        return tenant


def _request_id() -> str:
    """This call's RequestId: the one its log lines carry (the interceptor binds it)."""
    return logs.request_id() or str(uuid.uuid4()).upper()


LISTS_AT_ONCE = 4  # List pages built at once: with 1 MiB of documents each, a bounded share of memory
MAX_MESSAGE_BYTES = 1000  # the status message as sent; every violation is in the details as well
# The BadRequest detail. A client takes 8 KiB of trailers by default: grpc-message (the message, up to
# ~1.1 KB once percent-encoded) and grpc-status-details-bin (base64: the message again, ErrorInfo and
# this, a third more) must fit with room for the headers: (1 100 + 3 800) × 4/3 + 1 100 + 150 < 8 192.
MAX_DETAILS_BYTES = 3800


def _bad_request(violations: list[FieldViolation]) -> error_details_pb2.BadRequest:
    """The violations that fit the trailer's room, the first ones first, and a count of the rest."""
    bad = error_details_pb2.BadRequest()
    for i, v in enumerate(violations):
        bad.field_violations.add(field=v.field, description=v.description)
        if bad.ByteSize() > MAX_DETAILS_BYTES:
            del bad.field_violations[-1]
            bad.field_violations.add(field="(more)", description=f"{len(violations) - i} more problems")
            break
    return bad


async def _abort(context: grpc.aio.ServicerContext, error: GatewayError) -> None:
    if error.status is Status.UNAVAILABLE:
        log.warning("%s", error)
    await context.abort_with_status(rpc_status.to_status(status_of(error)))


def status_of(error: GatewayError) -> status_pb2.Status:
    """The google.rpc.Status a gRPC client gets for `error`, its details included."""
    _, rpc_code = GRPC_CODES[error.status]
    details: list[Message] = [error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)]
    if isinstance(error, InvalidArgumentError):
        details.append(_bad_request(error.violations))
    if isinstance(error, QuotaExceededError):
        # The standard details, so that gRPC clients and their retry policies read them: which limit,
        # and how long to wait before trying again.
        details.append(error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=f"tenant:{error.tenant}",
                                                     description=f"{error.limit}: {error}")]))  # fmt: skip
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(max(1, round(error.retry_after_s * 1000)))
        details.append(retry)
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    # Trailers are bounded (8 KiB by default, on the client): the message and the details share that.
    return status_pb2.Status(code=rpc_code, message=wire_clip(str(error), MAX_MESSAGE_BYTES), details=packed)


def wire_clip(text: str, limit: int) -> str:
    """`text` cut to `limit` bytes as grpc-message carries it: printable ASCII as it is, every other
    byte percent-encoded (three bytes each: "é" takes six)."""
    used = 0
    for i, ch in enumerate(text):
        used += 1 if " " <= ch <= "~" and ch != "%" else 3 * len(ch.encode())
        if used > limit - 3:
            return text[:i] + "..."
    return text
