"""Tracing (issue 14): one trace per variant from Submit, through the render command (what the outbox
stores and NATS carries), into the worker's stages, and back with its events to the gateway; checked
with the OpenTelemetry SDK's in-memory exporter on the real code paths (the bus and the store faked)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cli.client import submit_request
from cli.samples import make_video
from gateway.app import new_batch
from gateway.changes import BatchChanges
from gateway.events import EventConsumer
from gateway.validate import Roots, validate_submit
from reelmill import logs, tracing
from reelmill.v1 import render_pb2
from worker.consume import Worker
from worker.settings import WorkerSettings

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    """One SDK provider for the process (OpenTelemetry allows setting it once)."""
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(EXPORTER))


class FakeMsg:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.metadata = SimpleNamespace(num_delivered=1)
        self.acked = False

    async def ack_sync(self) -> None:
        self.acked = True

    async def ack(self) -> None:
        self.acked = True

    async def in_progress(self) -> None:
        pass

    async def nak(self, delay: float = 0) -> None:
        pass

    async def term(self) -> None:
        pass


class FakeWorkerBus:
    ack_wait_s, max_deliver = 30.0, 5

    def __init__(self) -> None:
        self.events: list[render_pb2.RenderEvent] = []

    async def is_cancelled(self, batch_id: str) -> bool:
        return False

    async def publish_event(self, event: render_pb2.RenderEvent, msg_id: str) -> None:
        self.events.append(event)


class FakeBatches:
    def apply_event(self, update: Any) -> bool:
        return True


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    return next(s for s in spans if s.name == name)


def test_one_trace_from_submit_to_the_worker_and_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    EXPORTER.clear()
    make_video(str(tmp_path / "a.mp4"), 160, 90, 1.0)
    doc = {"InputConfig": {"MediaArray": [f"file://{tmp_path}/a.mp4"]},
           "OutputConfig": {"Count": 1, "Width": 64, "Height": 64, "FixedDuration": 0.5}}  # fmt: skip
    job = validate_submit(submit_request(doc, "/"), Roots((str(tmp_path),), str(tmp_path)))
    # The gateway: the command is made inside the Submit span and carries its context.
    with tracing.span("reelmill.submit", tenant="default"):
        batch = new_batch("default", job)
    (message,) = batch.messages
    command = render_pb2.RenderCommand.FromString(message.payload)
    assert command.traceparent.startswith("00-")

    # The worker takes the command as NATS would hand it over.
    bus = FakeWorkerBus()
    settings = WorkerSettings(media_roots=(str(tmp_path),), output_dir=str(tmp_path), cache_dir=str(tmp_path))
    worker = Worker(settings, bus)  # type: ignore[arg-type]
    caplog.handler.addFilter(logs.ContextFilter())  # as logs.configure puts it on the real handlers
    with caplog.at_level(logging.INFO), logs.context():
        asyncio.run(worker.handle(FakeMsg(message.payload), asyncio.Event()))  # type: ignore[arg-type]
    final = bus.events[-1]
    assert final.state == render_pb2.RENDER_STATE_SUCCESS and final.traceparent

    # The gateway applies the event.
    consumer = EventConsumer(FakeBatches(), None, BatchChanges())  # type: ignore[arg-type]
    asyncio.run(consumer._handle(FakeMsg(final.SerializeToString())))  # type: ignore[arg-type]

    spans = list(EXPORTER.get_finished_spans())
    submit, render = by_name(spans, "reelmill.submit"), by_name(spans, "reelmill.render")
    trace_id = submit.context.trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}  # one trace
    assert render.parent is not None and render.parent.span_id == submit.context.span_id
    for stage in ("reelmill.fetch", "reelmill.speech", "reelmill.plan", "reelmill.encode", "reelmill.quality",
                  "reelmill.upload"):  # fmt: skip
        s = by_name(spans, stage)
        assert s.parent is not None and s.parent.span_id == render.context.span_id, stage
    event = by_name(spans, "reelmill.event")
    assert event.parent is not None and event.parent.span_id == render.context.span_id
    assert render.attributes is not None and render.attributes["job_id"] == batch.id
    # Log lines carry the trace id.
    assert any(getattr(r, "trace_id", "") == format(trace_id, "032x") for r in caplog.records)


def test_json_log_lines_name_the_trace() -> None:
    formatter = logs.JsonFormatter()
    with tracing.span("reelmill.test"):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        logs.ContextFilter().filter(record)
        line = json.loads(formatter.format(record))
    assert len(line["trace_id"]) == 32


def test_without_an_endpoint_tracing_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert tracing.configure("reelmill-test") is False
