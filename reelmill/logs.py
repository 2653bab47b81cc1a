"""Log lines for people (text) or for collectors (one JSON object a line), each naming its job.

The job and sub-job ids live in context variables: set them where a piece of work starts (a render
command, a render event, an RPC about one job) and every line logged while doing it carries them,
including lines from threads started with asyncio.to_thread (which copies the context).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from reelmill.tracing import current_trace_id

FORMATS = ("text", "json")

_job_id: ContextVar[str] = ContextVar("reelmill_job_id", default="")
_sub_job_id: ContextVar[str] = ContextVar("reelmill_sub_job_id", default="")
_request_id: ContextVar[str] = ContextVar("reelmill_request_id", default="")
_tenant: ContextVar[str] = ContextVar("reelmill_tenant", default="")
FIELDS = ("job_id", "sub_job_id", "request_id", "tenant", "trace_id")


def bind_request(request_id: str = "", tenant: str = "") -> None:
    """Names the request in hand (its RequestId) and, once known, its tenant, for the rest of the
    current context: each RPC and each ICE door request runs in a task of its own."""
    if request_id:
        _request_id.set(request_id)
    if tenant:
        _tenant.set(tenant)


def request_id() -> str:
    """The RequestId bound to this context ("" outside a request)."""
    return _request_id.get()


def bind(job_id: str = "", sub_job_id: str = "") -> None:
    """Names the work in hand for the rest of the current context (task or thread)."""
    _job_id.set(job_id)
    _sub_job_id.set(sub_job_id)


@contextmanager
def context(job_id: str = "", sub_job_id: str = "") -> Iterator[None]:
    """Names the work for the block; whatever was bound before (also inside the block) comes back after."""
    tokens = (_job_id.set(job_id), _sub_job_id.set(sub_job_id))
    try:
        yield
    finally:
        _sub_job_id.reset(tokens[1])
        _job_id.reset(tokens[0])


class ContextFilter(logging.Filter):
    """Puts job_id, sub_job_id, request_id, tenant and the current trace id on every record (an explicit
    `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "job_id", ""):
            record.job_id = _job_id.get()
        if not getattr(record, "sub_job_id", ""):
            record.sub_job_id = _sub_job_id.get()
        if not getattr(record, "request_id", ""):
            record.request_id = _request_id.get()
        if not getattr(record, "tenant", ""):
            record.tenant = _tenant.get()
        if not getattr(record, "trace_id", ""):
            record.trace_id = current_trace_id()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k.removesuffix('_id')}={v}" for k in FIELDS if (v := getattr(record, k, ""))]
        if not ids:
            return line
        head, _, rest = line.partition("\n")  # a traceback stays below the first line
        return f"{head} [{' '.join(ids)}]" + (f"\n{rest}" if rest else "")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ms), level, logger, message, job_id, sub_job_id, request_id,
    tenant, trace_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, "")
            if value:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """The root logger writes to stderr in the chosen format; replaces any earlier set-up."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
