"""The ICE door: Alibaba Cloud ICE's OpenAPI over HTTP, as its official SDKs speak it, so that an ICE user
points the SDK at reelmill and changes nothing else.

RPC style: `POST /` (or `GET /`) with the parameters in the query and a form body, the action and
version in `x-acs-action` / `x-acs-version`, signed with ACS3-HMAC-SHA256 (acs3.py) by a tenant's
AccessKey. Actions: the batch family and the batch-editing templates. Answers are ICE's JSON with a
RequestId; errors are ICE's error JSON (RequestId, HostId, Code, Message) with an HTTP status, from our
error tree in one table, so the SDK raises its usual ClientException carrying the Code. Everything else
is the application layer's (app.py): the same validation, store and rules as the gRPC door.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import acs3, metrics
from gateway.app import Application
from gateway.errors import (
    FieldViolation,
    GatewayError,
    InvalidArgumentError,
    QuotaExceededError,
    Status,
    clip,
)
from gateway.store.batches import BatchWithSubJobs
from gateway.store.nonces import Nonces
from gateway.store.schema import BatchRow, MediaRow, TemplateRow
from gateway.tenants import Authenticator
from gateway.views import batch_message, ice_time, template_message
from reelmill import logs
from reelmill.v1 import batch_service_pb2 as api

log = logging.getLogger(__name__)
VERSION = "2020-11-09"
HOST_ID = "ice.reelmill"
CODE_HEADER = "x-acs-error-code"  # the Code of an error answer, also in a header (for metrics)

# Each status of the error tree on this door: the HTTP status, and ICE's Code where ours differs.
HTTP_STATUS: dict[Status, int] = {
    Status.INVALID_ARGUMENT: 400,
    Status.NOT_FOUND: 404,
    Status.ALREADY_EXISTS: 400,
    Status.FAILED_PRECONDITION: 400,
    Status.UNAUTHENTICATED: 401,
    Status.UNAVAILABLE: 503,
    Status.RESOURCE_EXHAUSTED: 429,
    Status.INTERNAL: 500,
}
ICE_CODES = {
    "INVALID_ARGUMENT": "InvalidParameter",
    "JOB_NOT_FOUND": "InvalidParameter.JobNotFound",
    "TEMPLATE_NOT_FOUND": "InvalidParameter.TemplateNotFound",
    "MEDIA_NOT_FOUND": "InvalidParameter.MediaNotFound",
    "JOB_ALREADY_TERMINAL": "Forbidden.JobStatus",
    "UNAUTHENTICATED": "InvalidAccessKeyId.NotFound",
    "DATABASE_UNAVAILABLE": "ServiceUnavailable",
    "BUS_UNAVAILABLE": "ServiceUnavailable",
    "UNAVAILABLE": "ServiceUnavailable",
    "INTERNAL": "InternalError",
}

Params = Mapping[str, str]
Action = Callable[[Application, str, Params], Awaitable[dict[str, Any]]]


class IceDoor:
    def __init__(self, app: Application, auth: Authenticator, nonces: Nonces, max_request_bytes: int) -> None:
        self.app, self.auth, self.nonces = app, auth, nonces
        self.max_request_bytes = max_request_bytes

    def web_app(self) -> web.Application:
        server = web.Application(client_max_size=self.max_request_bytes)
        server.router.add_post("/", self.handle)
        server.router.add_get("/", self.handle)  # the SDKs send some actions as GET, all in the query
        return server

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        response = await self._answer(request)
        name = request.headers.get("x-acs-action", "")
        action = name if name in ACTIONS else "unknown"  # a bounded set of label values
        metrics.ICE_HANDLED.labels(action, response.headers.get(CODE_HEADER, "OK")).inc()
        metrics.ICE_SECONDS.labels(action).observe(time.monotonic() - started)
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4()).upper()
        logs.bind_request(request_id=request_id)  # aiohttp runs each request in a task of its own
        try:
            body = await request.read()
            tenant = await self._tenant(request, body)
            logs.bind_request(tenant=tenant)
            name = request.headers.get("x-acs-action", "")
            version = request.headers.get("x-acs-version", "")
            if version != VERSION:
                raise InvalidArgumentError([FieldViolation("x-acs-version", f"must be {VERSION}")])
            action = ACTIONS.get(name)
            if action is None:
                raise InvalidArgumentError([FieldViolation("x-acs-action", f"unknown action {name!r}; "
                                                           f"available: {', '.join(ACTIONS)}")])  # fmt: skip
            params = _params(request, body)
            result = await action(self.app, tenant, params)
        except GatewayError as e:
            return _error(request_id, e)
        except web.HTTPRequestEntityTooLarge:
            limit = f"at most {self.max_request_bytes} bytes (REELMILL_MAX_REQUEST_BYTES)"
            return _error(request_id, InvalidArgumentError([FieldViolation("body", limit)]))
        except Exception:
            log.exception("ICE %s failed", request.headers.get("x-acs-action", "?"))
            return _error(request_id, GatewayError("internal error; the gateway log has the details"))
        return web.json_response({"RequestId": request_id, **result})

    async def _tenant(self, request: web.Request, body: bytes) -> str:
        header = request.headers.get("Authorization", "")
        auth = acs3.parse_authorization(header)
        if self.auth.is_open:
            return self.auth.open_tenant().name
        tenant, secret = self.auth.access_key(auth.access_key_id)
        headers = {k.lower(): request.headers.getall(k) for k in request.headers}
        query = dict(request.rel_url.query)
        now = datetime.now(UTC)
        acs3.verify(auth, secret, request.method, request.rel_url.raw_path, query, headers, body, now)
        # Only a request that verified takes a nonce, so that nobody else can spend a client's nonces.
        nonce = request.headers["x-acs-signature-nonce"]
        await asyncio.to_thread(self.nonces.take, auth.access_key_id, nonce, now)
        return tenant.name


# -- the actions --------------------------------------------------------------------------------------------


async def submit(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    # ICE's parameters are the JSON-mapping names of the request's string fields (app.py reads them)
    names = ("ClientToken", "UserData", "InputConfig", "EditingConfig", "OutputConfig", "TemplateConfig")
    req = json_format.ParseDict(
        {n: p[n] for n in names if p.get(n)}, api.SubmitBatchMediaProducingJobRequest()
    )
    if p.get("Priority"):  # reelmill's extension: 1 (lowest) to 5 (highest)
        req.priority = _int(p, "Priority")
    done = await app.submit(tenant, req)
    return {
        "JobId": done.job_id,
        **({"IgnoredFields": list(done.ignored_fields)} if done.ignored_fields else {}),
        "Combinations": done.combinations,
        **({"Warnings": list(done.warnings)} if done.warnings else {}),
    }


async def get(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    found = await app.get(tenant, _required(p, "JobId"))
    return {"EditingBatchJob": await asyncio.to_thread(ice_job, found.batch, found)}


async def list_jobs(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    req = api.ListBatchMediaProducingJobsRequest(
        job_id=p.get("JobId", ""), job_type=p.get("JobType", ""), status=p.get("Status", ""),
        sort_by=p.get("SortBy", ""), next_token=p.get("NextToken", ""),
        max_results=_int(p, "MaxResults"),
    )  # fmt: skip
    for name, field in (("StartTime", req.start_time), ("EndTime", req.end_time)):
        if p.get(name):
            field.CopyFrom(_timestamp(p, name))
    page = await app.page(tenant, req)
    jobs = await asyncio.to_thread(lambda: [ice_job(row) for row in page.rows])  # CPU work: off the loop
    return {"EditingBatchJobList": jobs, "NextToken": page.next_token, "MaxResults": page.limit}


# -- batch-editing templates (ICE's AddTemplate family, Type BatchEditing: the kind reelmill has)

TEMPLATE_TYPE = "BatchEditing"
MAX_TEMPLATE_PAGE = 100


async def add_template(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    kind = p.get("Type", TEMPLATE_TYPE)
    if kind != TEMPLATE_TYPE:
        raise InvalidArgumentError([FieldViolation("Type", f"reelmill's templates are {TEMPLATE_TYPE} ones")])
    request = api.AddTemplateRequest(name=p.get("Name", ""), config_json=_required(p, "Config"))
    return {"Template": ice_template(await app.add_template(tenant, request))}


async def get_template(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    return {"Template": ice_template(await app.template(tenant, _required(p, "TemplateId")))}


async def list_templates(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    """ICE pages by number (PageNo from 1, PageSize ≤ 100, newest first); reelmill's store by token."""
    page_no, size = _int(p, "PageNo") or 1, _int(p, "PageSize") or 10
    if page_no < 1 or not 1 <= size <= MAX_TEMPLATE_PAGE:
        raise InvalidArgumentError([FieldViolation("PageNo", "must be 1 or more"), FieldViolation(
            "PageSize", f"must be 1–{MAX_TEMPLATE_PAGE}")])  # fmt: skip
    if p.get("Type", TEMPLATE_TYPE) != TEMPLATE_TYPE:
        return {"Templates": [], "TotalCount": 0}
    rows, token = await app.templates_page(tenant, size, "")
    for _ in range(page_no - 1):
        rows, token = await app.templates_page(tenant, size, token) if token else ([], "")
    return {"Templates": [ice_template(r) for r in rows], "TotalCount": await app.template_count(tenant)}


async def delete_template(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    ids = [i.strip() for i in _required(p, "TemplateIds").split(",") if i.strip()]
    for template_id in ids:
        await app.delete_template(tenant, template_id)
    return {}


# -- the media library (ICE's media asset actions, for the MediaIds documents use)


async def register_media(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    request = api.RegisterMediaRequest(input_url=_required(p, "InputURL"), media_type=p.get("MediaType", ""),
                                       title=p.get("Title", ""))  # fmt: skip
    return {"MediaId": (await app.register_media(tenant, request)).id}


async def get_media(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    return {"MediaInfo": ice_media(await app.media_item(tenant, _required(p, "MediaId")))}


async def list_media(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    rows, token = await app.media_page(tenant, _int(p, "MaxResults"), p.get("NextToken", ""))
    return {"MediaInfos": [ice_media(r) for r in rows], "NextToken": token,
            "MaxResults": _int(p, "MaxResults") or len(rows)}  # fmt: skip


async def delete_media(app: Application, tenant: str, p: Params) -> dict[str, Any]:
    ids = [i.strip() for i in _required(p, "MediaIds").split(",") if i.strip()]
    await app.delete_media(tenant, ids)
    return {"IgnoredList": [], "ForbiddenList": []}


ACTIONS: dict[str, Action] = {
    "SubmitBatchMediaProducingJob": submit,
    "GetBatchMediaProducingJob": get,
    "ListBatchMediaProducingJobs": list_jobs,
    "AddTemplate": add_template,
    "GetTemplate": get_template,
    "ListTemplates": list_templates,
    "DeleteTemplate": delete_template,
    "RegisterMediaInfo": register_media,
    "GetMediaInfo": get_media,
    "ListMediaBasicInfos": list_media,
    "DeleteMediaInfos": delete_media,
}


# -- ICE's shapes -------------------------------------------------------------------------------------------


def ice_job(batch: BatchRow, found: BatchWithSubJobs | None = None) -> dict[str, Any]:
    """A batch as ICE returns it: the message's ICE forms (views.py), without the typed ones."""
    doc = json_format.MessageToDict(batch_message(batch, found.sub_jobs if found else None))
    return {k: v for k, v in doc.items() if not k.endswith(("Object", "Timestamp"))}


def ice_template(row: TemplateRow) -> dict[str, Any]:
    """A template as ICE returns it: its Config as a JSON string of ICE's names."""
    config = json_format.MessageToDict(template_message(row).config)
    created = ice_time(row.created_at)
    return {"TemplateId": row.id, "Name": row.name, "Type": TEMPLATE_TYPE, "Status": "Available",
            "Config": json.dumps(config, ensure_ascii=False, separators=(",", ":")),
            "CreateSource": "OpenAPI", "ModifiedSource": "OpenAPI", "CreationTime": created,
            "ModifiedTime": created}  # fmt: skip


def ice_media(row: MediaRow) -> dict[str, Any]:
    """A media as ICE returns it: basic info, and one file with its probed facts (ICE gives numbers as
    strings there)."""
    created = ice_time(row.created_at)
    basic = {"MediaId": row.id, "InputURL": row.input_url, "MediaType": row.media_type, "Title": row.title,
             "Status": row.status, "CreateTime": created, "ModifiedTime": created}  # fmt: skip
    facts = {"FileUrl": row.input_url, "FileStatus": row.status, "Duration": f"{row.duration_s:g}",
             "Width": str(row.width), "Height": str(row.height), "CreateTime": created}  # fmt: skip
    return {"MediaId": row.id, "MediaBasicInfo": basic, "FileInfoList": [{"FileBasicInfo": facts}]}


def _params(request: web.Request, body: bytes) -> dict[str, str]:
    params = dict(request.rel_url.query)
    if body and request.content_type == "application/x-www-form-urlencoded":
        try:
            params.update(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as e:
            raise InvalidArgumentError([FieldViolation("body", "must be UTF-8 form data")]) from e
    return params


def _required(p: Params, name: str) -> str:
    value = p.get(name, "")
    if not value:
        raise InvalidArgumentError([FieldViolation(name, "required")])
    return value


def _int(p: Params, name: str) -> int:
    value = p.get(name, "")
    if not value:
        return 0
    try:
        return int(value)
    except ValueError as e:
        raise InvalidArgumentError([FieldViolation(name, "must be a whole number")]) from e


def _timestamp(p: Params, name: str) -> Timestamp:
    ts = Timestamp()
    try:
        ts.FromDatetime(datetime.strptime(p[name], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))
    except ValueError as e:
        raise InvalidArgumentError([FieldViolation(name, "must be yyyy-MM-ddTHH:mm:ssZ (UTC)")]) from e
    return ts


def _error(request_id: str, error: GatewayError) -> web.Response:
    if error.status is Status.UNAVAILABLE:
        log.warning("%s", error)
    code = ICE_CODES.get(error.reason, error.reason)
    body = {"RequestId": request_id, "HostId": HOST_ID, "Code": code, "Message": clip(str(error), 4000)}
    if isinstance(error, InvalidArgumentError):
        body["Recommend"] = "; ".join(f"{v.field}: {v.description}" for v in error.violations)
    headers = {CODE_HEADER: code}
    if isinstance(error, QuotaExceededError):
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    return web.json_response(body, status=HTTP_STATUS[error.status], headers=headers)
