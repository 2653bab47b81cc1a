"""Tracing with OpenTelemetry, shared by gateway and worker: one trace per variant from Submit through
the outbox and NATS into the worker's stages and back with its events.

Off unless an OTLP endpoint is configured (the standard OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): the API's default tracer then makes no spans and costs nothing.
The context crosses processes as a W3C `traceparent` string carried in the render command and the
render events (reelmill/v1/render.proto), so it survives the outbox, which stores commands for later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)
_PROPAGATOR = TraceContextTextMapPropagator()
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def configure(service: str) -> bool:
    """Exports spans by OTLP over HTTP when an endpoint is configured; True when it does."""
    if not any(os.environ.get(v) for v in ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info(
        "traces exported by OTLP (%s)", next(os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v))
    )
    return True


def tracer() -> trace.Tracer:
    return trace.get_tracer("reelmill")


def traceparent() -> str:
    """The current span's context as a W3C traceparent ("" outside any recording span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def span(name: str, parent: str = "", **attributes: Any) -> Iterator[Span]:
    """A span named `name`, child of the current span, or of the W3C traceparent `parent` when given
    (a command or an event from another process)."""
    token = None
    if parent:
        token = context.attach(_PROPAGATOR.extract({"traceparent": parent}))
    try:
        with tracer().start_as_current_span(
            name, attributes={k: v for k, v in attributes.items() if v is not None}
        ) as s:
            yield s
    finally:
        if token is not None:
            context.detach(token)


def annotate(**attributes: Any) -> None:
    """Attributes on the current span (found out after it started: a job id, say)."""
    current = trace.get_current_span()
    for key, value in attributes.items():
        if value is not None:
            current.set_attribute(f"reelmill.{key}", value)


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, for log lines ("" when there is none)."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
