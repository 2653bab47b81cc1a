"""Client commands: submit, get, list, cancel, watch. Output is ICE-shaped JSON on stdout, except the
progress of `submit --watch` and `watch` and the table of `list` (`list --json` for JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cli import progress
from cli.jobfile import load_job_file, resolve_files
from cli.settings import ClientSettings
from reelmill import config, documents
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

TERMINAL = ("Finished", "Failed", "Cancelled")


class _ApiKey(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Sends the API key with every call."""

    def __init__(self, key: str) -> None:
        self.key = key

    def _with_key(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), ("x-api-key", self.key)]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_key(details), request)


@dataclass(frozen=True)
class TlsClient:
    """How a client reaches a gateway over TLS: the CAs it trusts (None: the system's) and, for mTLS,
    its own certificate and key (PEM bytes)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None

    @classmethod
    def of(cls, settings: ClientSettings) -> TlsClient | None:
        """From the client settings: None for plain TCP (no --tls, --ca-cert or --client-cert)."""
        if not (settings.tls or settings.ca_cert or settings.client_cert):
            return None
        if bool(settings.client_cert) != bool(settings.client_key):
            raise SystemExit("error: --client-cert and --client-key go together")
        read = lambda path: Path(path).read_bytes() if path else None  # noqa: E731
        try:
            return cls(read(settings.ca_cert), read(settings.client_cert), read(settings.client_key))
        except OSError as e:
            raise SystemExit(f"error: {e}") from e

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)  # fmt: skip


def channel_for(address: str, api_key: str = "", tls: TlsClient | None = None) -> grpc.Channel:
    channel = grpc.secure_channel(address, tls.credentials()) if tls else grpc.insecure_channel(address)
    return grpc.intercept_channel(channel, _ApiKey(api_key)) if api_key else channel


CALL_TIMEOUT_S = 30  # a single call's deadline: a gateway that does not answer is an error, not a hang


def run(args: argparse.Namespace) -> int:
    settings: ClientSettings = config.build(ClientSettings, args)
    channel = channel_for(settings.gateway, settings.api_key, TlsClient.of(settings))
    stub = api_grpc.BatchMediaProducingServiceStub(channel)
    try:
        if args.command == "submit":
            return _submit(stub, args)
        if args.command == "get":
            found = stub.GetBatchMediaProducingJob(api.GetBatchMediaProducingJobRequest(job_id=args.job_id),
                                                   timeout=CALL_TIMEOUT_S)  # fmt: skip
            if args.output == "table":
                print(progress.summary(found.editing_batch_job))
            else:
                _print(found)
        elif args.command == "list":
            listed = stub.ListBatchMediaProducingJobs(_list_request(args), timeout=CALL_TIMEOUT_S)
            if args.json or args.output == "json":
                _print(listed)
            else:
                print(progress.jobs_table(listed))
        elif args.command == "cancel":
            request = api.CancelBatchMediaProducingJobRequest(job_id=args.job_id)
            _print(stub.CancelBatchMediaProducingJob(request, timeout=CALL_TIMEOUT_S))
        elif args.command == "watch":
            return _follow(stub, args.job_id, timeout_s=None)
        elif args.command == "template":
            _template(stub, args)
        return 0
    except grpc.RpcError as e:
        print(describe_error(e), file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        channel.close()


def submit_request(doc: dict[str, Any], base_dir: str) -> api.SubmitBatchMediaProducingJobRequest:
    """A job file as our Submit request; relative `file:` URLs resolved against the file's folder."""
    return documents.submit_request(doc, lambda value: resolve_files(value, base_dir))


def _submit(stub: api_grpc.BatchMediaProducingServiceStub, args: argparse.Namespace) -> int:
    doc = load_job_file(args.job_file)
    req = submit_request(doc, os.path.dirname(os.path.abspath(args.job_file)))
    if args.dry_run:
        planned = stub.PlanBatchMediaProducingJob(api.PlanBatchMediaProducingJobRequest(job=req), timeout=120)
        for warning in planned.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        _print(planned)
        return 0
    resp = stub.SubmitBatchMediaProducingJob(req, timeout=30)
    if resp.ignored_fields:
        print(f"warning: ignored fields unknown to ICE and reelmill: {', '.join(resp.ignored_fields)}",
              file=sys.stderr)  # fmt: skip
    for warning in resp.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not (args.wait or args.watch):
        print(resp.job_id)
        return 0
    print(resp.job_id, file=sys.stderr)
    if args.watch:
        return _follow(stub, resp.job_id, timeout_s=args.timeout)
    last = None
    for change in _watch(stub, resp.job_id, timeout_s=args.timeout):
        last = change.editing_batch_job
    final = stub.GetBatchMediaProducingJob(api.GetBatchMediaProducingJobRequest(job_id=resp.job_id))
    _print(final)
    status = final.editing_batch_job.status if last is not None else "unknown"
    return 0 if status == "Finished" else 3


def _follow(stub: api_grpc.BatchMediaProducingServiceStub, job_id: str, timeout_s: float | None) -> int:
    """Live progress per variant until the job ends, then a summary table; 0 only if Finished."""
    view = progress.ProgressView(sys.stdout)
    last = None
    for change in _watch(stub, job_id, timeout_s=timeout_s):
        last = change.editing_batch_job
        view.update(last)
    if last is None:
        return 3
    print(progress.summary(last), flush=True)
    return 0 if last.status == "Finished" else 3


def _watch(stub: api_grpc.BatchMediaProducingServiceStub, job_id: str,
           timeout_s: float | None) -> Iterator[api.WatchBatchMediaProducingJobResponse]:  # fmt: skip
    """Follows a job to its end, reconnecting when the gateway goes away (e.g. a restart)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0.1)
        try:
            for change in stub.WatchBatchMediaProducingJob(
                api.WatchBatchMediaProducingJobRequest(job_id=job_id), timeout=remaining
            ):
                yield change
                if change.editing_batch_job.status in TERMINAL:
                    return
            return
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or (deadline and time.monotonic() > deadline):
                raise
            time.sleep(1.0)


def _template(stub: api_grpc.BatchMediaProducingServiceStub, args: argparse.Namespace) -> None:
    if args.action == "add":
        if not args.file:
            raise ValueError("template add needs --file CONFIG.json")
        content = resolve_files(load_job_file(args.file), os.path.dirname(os.path.abspath(args.file)))
        name = args.name or args.target
        request = api.AddTemplateRequest(name=name, config_json=json.dumps(content, ensure_ascii=False))
        _print(stub.AddTemplate(request, timeout=CALL_TIMEOUT_S))
    elif args.action == "get":
        _print(
            stub.GetTemplate(
                api.GetTemplateRequest(template_id=args.id or args.target), timeout=CALL_TIMEOUT_S
            )
        )
    elif args.action == "list":
        _print(stub.ListTemplates(api.ListTemplatesRequest(max_results=100), timeout=CALL_TIMEOUT_S))
    elif args.action == "delete":
        stub.DeleteTemplate(
            api.DeleteTemplateRequest(template_id=args.id or args.target), timeout=CALL_TIMEOUT_S
        )
        print(f"deleted {args.id or args.target}")


def _list_request(args: argparse.Namespace) -> api.ListBatchMediaProducingJobsRequest:
    req = api.ListBatchMediaProducingJobsRequest(
        status=args.status, job_type=args.job_type, sort_by=args.sort_by, max_results=args.max_results,
        next_token=args.next_token,
    )  # fmt: skip
    try:
        if args.start_time:
            req.start_time.FromJsonString(args.start_time)
        if args.end_time:
            req.end_time.FromJsonString(args.end_time)
    except ValueError as e:
        raise ValueError(f"times must be RFC 3339 (2026-11-25T00:00:00Z): {e}") from e
    return req


def describe_error(e: grpc.RpcError) -> str:
    """The status code, message and each field violation, one per line."""
    lines = [f"error: {e.code().name}: {e.details()}"]
    # The stub asks for a grpc.Call; from_call reads only code(), details() and trailing_metadata().
    status = rpc_status.from_call(cast(grpc.Call, e))
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    return "\n".join(lines)


def _print(message: Message) -> None:
    print(json_format.MessageToJson(message, ensure_ascii=False, indent=2))
