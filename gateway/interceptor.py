"""One server interceptor around every RPC: counts it by method and status code, times unary ones,
and names the job (a request's job_id) on the log lines written while answering it."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc

from gateway import metrics
from reelmill import logs

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
# A string: grpc's RpcMethodHandler is generic only in the stubs, not at runtime.
Continuation: TypeAlias = (
    "Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None]]"
)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Continuation[_Request, _Response], handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        call = _Call(service, method)
        h: Any = handler  # grpc's handlers are namedtuples; _replace swaps the behaviour only
        if h.unary_unary is not None:
            return h._replace(unary_unary=call.unary(h.unary_unary))
        if h.stream_unary is not None:
            return h._replace(stream_unary=call.unary(h.stream_unary))
        if h.unary_stream is not None:
            return h._replace(unary_stream=call.streaming(h.unary_stream))
        if h.stream_stream is not None:
            return h._replace(stream_stream=call.streaming(h.stream_stream))
        return handler


class _Call:
    def __init__(self, service: str, method: str) -> None:
        self.service = service
        self.method = method

    def unary(self, behavior: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.monotonic()
            code = grpc.StatusCode.UNKNOWN
            try:
                with logs.context(job_id=_job_id(request)):
                    logs.bind_request(request_id=str(uuid.uuid4()).upper())
                    response = behavior(request, context)
                    if inspect.isawaitable(response):
                        response = await response
                code = _code(context, grpc.StatusCode.OK)
                return response
            except grpc.aio.AbortError:
                code = _code(context, grpc.StatusCode.UNKNOWN)
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                metrics.GRPC_HANDLED.labels(self.service, self.method, code.name).inc()
                metrics.GRPC_SECONDS.labels(self.service, self.method).observe(time.monotonic() - started)
                if self.method == "SubmitBatchMediaProducingJob" and code == grpc.StatusCode.OK:
                    metrics.JOBS_SUBMITTED.inc()

        return observed

    def streaming(self, behavior: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            code = grpc.StatusCode.UNKNOWN
            logs.bind(job_id=_job_id(request))  # each RPC runs in a task of its own
            logs.bind_request(request_id=str(uuid.uuid4()).upper())
            try:
                responses = behavior(request, context)
                if hasattr(responses, "__aiter__"):
                    async for response in responses:
                        yield response
                elif inspect.isawaitable(responses):
                    await responses  # a handler that writes with context.write()
                code = _code(context, grpc.StatusCode.OK)
            except grpc.aio.AbortError:
                code = _code(context, grpc.StatusCode.UNKNOWN)
                raise
            except (asyncio.CancelledError, GeneratorExit):
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                metrics.GRPC_HANDLED.labels(self.service, self.method, code.name).inc()

        return observed


def _job_id(request: Any) -> str:
    value = getattr(request, "job_id", "")
    return value if isinstance(value, str) else ""


def _code(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), default)
    return default
