"""The console's HTTP side: pages rendered on the server (Jinja2, escaped), live parts over server-sent
events (htmx's SSE extension swaps them in), signed links for the videos, and the rules every request
passes: a session, a CSRF token on every change, the same origin, strict security headers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import grpc
import jinja2
from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionResetError
from google.protobuf import json_format

from console import links, views
from console.gateway_client import Gateway, GatewayCallError, Problem
from console.sessions import COOKIE, Session, Sessions
from console.settings import ConsoleSettings
from reelmill import documents, roots
from reelmill.v1 import batch_service_pb2 as api

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = {"htmx.min.js": "text/javascript", "htmx-sse.min.js": "text/javascript", "console.css": "text/css"}
JOBS_POLL_S = 2.0
PAGE_SIZE = 25
MAX_DOCUMENT_BYTES = 2 << 20
OPEN_PATHS = ("/login", "/static/", "/files", "/healthz")
SECURITY_HEADERS = {
    # No inline script, no other origin; videos and posters from here or (S3) presigned https links.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; media-src 'self' https:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on form posts
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

SESSION = web.RequestKey("session", Session)
ONE_JOB = api.ListBatchMediaProducingJobsRequest(
    max_results=1
)  # a cheap call that tells whether a key is known
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    def __init__(self, settings: ConsoleSettings, gateway: Gateway) -> None:
        self.settings = settings
        self.gateway = gateway
        self.sessions = Sessions(settings.session_hours * 3600)
        secret = settings.console_secret.encode() or secrets.token_bytes(32)
        self.signer = links.Signer(secret, settings.link_seconds)
        self.output_root = roots.real(settings.output_dir)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.open_gateway: bool | None = None  # known after the first call without a key

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._headers, self._signed_in], client_max_size=MAX_DOCUMENT_BYTES
        )
        app.add_routes([
            web.get("/healthz", self.healthz), web.get("/static/{name}", self.static),
            web.get("/login", self.login_page), web.post("/login", self.login),
            web.post("/logout", self.logout),
            web.get("/", self.jobs), web.get("/events/jobs", self.jobs_events),
            web.get("/jobs/{job_id}", self.job), web.get("/events/jobs/{job_id}", self.job_events),
            web.post("/jobs/{job_id}/cancel", self.cancel),
            web.get("/submit", self.submit_page), web.post("/submit", self.submit),
            web.get("/templates", self.templates_page),
            web.get("/templates/{id}", self.template),
            web.post("/templates/{id}/delete", self.delete_template),
            web.get("/media", self.media_page), web.post("/media/{id}/delete", self.delete_media),
            web.get("/files", self.file),
        ])  # fmt: skip
        return app

    # -- the rules of every request ------------------------------------------------------------------

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except GatewayCallError as e:
            response = self._gateway_error(request, e)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @web.middleware
    async def _signed_in(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(OPEN_PATHS):
            if request.method == "POST" and not _same_origin(request):
                raise web.HTTPForbidden(text="cross-site request refused")
            return await handler(request)
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            if await self._is_open():  # no keys at the gateway: nobody to sign in
                return await self._start(request, "", handler)
            raise web.HTTPSeeOther("/login")
        if request.method == "POST":
            form = await request.post()
            if not _same_origin(request) or not session.csrf_ok(str(form.get("csrf", ""))):
                raise web.HTTPForbidden(text="the form is stale or from another site: reload the page")
        request[SESSION] = session
        return await handler(request)

    async def _start(self, request: web.Request, key: str, handler: Handler) -> web.StreamResponse:
        sid, session = self.sessions.start(key)
        request[SESSION] = session
        response = await handler(request)
        self._set_cookie(response, sid)
        return response

    def _set_cookie(self, response: web.StreamResponse, sid: str) -> None:
        response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", secure=self.settings.secure_cookie,
                            max_age=int(self.settings.session_hours * 3600), path="/")  # fmt: skip

    async def _is_open(self) -> bool:
        if self.open_gateway is None:
            try:
                await self.gateway.call("ListBatchMediaProducingJobs", ONE_JOB, "")
                self.open_gateway = True
            except GatewayCallError as e:
                if e.code != grpc.StatusCode.UNAUTHENTICATED:
                    raise
                self.open_gateway = False
        return self.open_gateway

    def _gateway_error(self, request: web.Request, e: GatewayCallError) -> web.StreamResponse:
        if e.code == grpc.StatusCode.UNAUTHENTICATED:
            raise web.HTTPSeeOther("/login")
        if e.code == grpc.StatusCode.NOT_FOUND:
            return self._page(request, "error.html", http_status=404, heading="Not found", message=str(e))
        log.warning("console: the gateway answered %s: %s", e.code.name, e)
        return self._page(request, "error.html", http_status=502, heading="The gateway could not answer",
                          message=f"{e.code.name}: {e}")  # fmt: skip

    def _page(self, request: web.Request, name: str, http_status: int = 200, **context: Any) -> web.Response:
        session = request.get(SESSION)
        html = self.templates.get_template(name).render(
            signed_in=session is not None, can_sign_out=bool(session and session.key),
            csrf=session.csrf if session else "", **{"page": "", **context},
        )  # fmt: skip
        return web.Response(text=html, content_type="text/html", status=http_status)

    def _key(self, request: web.Request) -> str:
        return request[SESSION].key

    # -- pages ---------------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        response = web.FileResponse(HERE / "static" / name, headers={"Content-Type": STATIC[name]})
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        if await self._is_open():
            raise web.HTTPSeeOther("/")
        return self._page(request, "login.html", page="login", error="")

    async def login(self, request: web.Request) -> web.StreamResponse:
        key = str((await request.post()).get("key", "")).strip()
        try:  # the key is good if the gateway takes it
            await self.gateway.call("ListBatchMediaProducingJobs", ONE_JOB, key)
        except GatewayCallError as e:
            if e.code != grpc.StatusCode.UNAUTHENTICATED:
                raise
            return self._page(
                request, "login.html", http_status=401, page="login", error="That key is not known here."
            )
        sid, _ = self.sessions.start(key)
        response = web.HTTPSeeOther("/")
        self._set_cookie(response, sid)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.end(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    def _list_request(self, request: web.Request) -> api.ListBatchMediaProducingJobsRequest:
        q = request.query
        return api.ListBatchMediaProducingJobsRequest(
            status=q.get("status", ""), job_type=q.get("type", ""), next_token=q.get("next", ""),
            max_results=PAGE_SIZE,
        )  # fmt: skip

    async def jobs(self, request: web.Request) -> web.StreamResponse:
        found = await self.gateway.call(
            "ListBatchMediaProducingJobs", self._list_request(request), self._key(request)
        )
        q = request.query
        filters = {k: q[k] for k in ("status", "type") if q.get(k)}
        return self._page(
            request, "jobs.html", page="jobs", rows=[views.job_row(j) for j in found.editing_batch_job_list],
            status=q.get("status", ""), job_type=q.get("type", ""), token=found.next_token,
            query=urlencode({**filters, **({"next": q["next"]} if q.get("next") else {})}),
            older=urlencode({**filters, "next": found.next_token}), newest=urlencode(filters),
            paged=bool(q.get("next")),
        )  # fmt: skip

    async def jobs_events(self, request: web.Request) -> web.StreamResponse:
        """The rows of the jobs page, sent again whenever a job on it changes."""
        stream = await _event_stream(request)
        with _ends_quietly():
            await self._jobs_events(request, stream)
        return stream

    async def _jobs_events(self, request: web.Request, stream: web.StreamResponse) -> None:
        parts = self.templates.get_template("parts.html").module
        sent: object = None
        while True:
            found = await self.gateway.call("ListBatchMediaProducingJobs", self._list_request(request),
                                            self._key(request))  # fmt: skip
            rows = [views.job_row(j) for j in found.editing_batch_job_list]
            keys = [r.key for r in rows]
            if keys != sent:
                await _send(stream, "rows", str(parts.job_rows(rows)))  # type: ignore[attr-defined]
                sent = keys
            await asyncio.sleep(JOBS_POLL_S)

    async def job(self, request: web.Request) -> web.StreamResponse:
        job = await self._get(request, request.match_info["job_id"])
        return self._page(request, "job.html", page="job", job=job, counts=views.counts(job),
                          variants=self._variants(job), terminal=views.TERMINAL)  # fmt: skip

    async def _get(self, request: web.Request, job_id: str) -> api.EditingBatchJob:
        get = api.GetBatchMediaProducingJobRequest(job_id=job_id)
        found = await self.gateway.call("GetBatchMediaProducingJob", get, self._key(request))
        return found.editing_batch_job

    def _variants(self, job: api.EditingBatchJob) -> list[views.Variant]:
        now = time.time()
        return [views.variant(s, lambda url: self._link(url, now), self._size) for s in job.sub_job_list]

    async def job_events(self, request: web.Request) -> web.StreamResponse:
        """The job's header and each variant that changed, fed by Watch, until the job ends."""
        stream = await _event_stream(request)
        with _ends_quietly():
            await self._job_events(request, stream)
        return stream

    async def _job_events(self, request: web.Request, stream: web.StreamResponse) -> None:
        parts = self.templates.get_template("parts.html").module
        sent: dict[str, object] = {}
        async for job in self.gateway.watch(request.match_info["job_id"], self._key(request)):
            csrf = request[SESSION].csrf
            header = str(parts.job_header(job, views.counts(job), csrf, views.TERMINAL))  # type: ignore[attr-defined]
            if sent.get("header") != header:
                await _send(stream, "header", header)
                sent["header"] = header
            for v in self._variants(job):
                name = f"variant-{v.index}"
                if sent.get(name) != v.key:  # a playing video is never swapped again: its key stays
                    await _send(stream, name, str(parts.variant_card(v)))  # type: ignore[attr-defined]
                    sent[name] = v.key
            if job.status in views.TERMINAL:
                break
        await _send(stream, "done", "")

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        cancel = api.CancelBatchMediaProducingJobRequest(job_id=job_id)
        await self.gateway.call("CancelBatchMediaProducingJob", cancel, self._key(request))
        raise web.HTTPSeeOther(f"/jobs/{job_id}")

    async def submit_page(self, request: web.Request) -> web.StreamResponse:
        return self._page(
            request, "submit.html", **await self._submit_context(request, document="", chosen=[])
        )

    async def _submit_context(self, request: web.Request, **context: Any) -> dict[str, Any]:
        found = await self.gateway.call(
            "ListTemplates", api.ListTemplatesRequest(max_results=100), self._key(request)
        )
        return {"page": "submit", "templates": list(found.templates), "errors": [], "plans": [],
                "warnings": [], "combinations": 0, "render_seconds": [], **context}  # fmt: skip

    async def submit(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload = form.get("upload")
        document = str(form.get("document", ""))
        if isinstance(upload, web.FileField) and upload.filename:
            document = upload.file.read(MAX_DOCUMENT_BYTES).decode("utf-8", errors="replace")
        chosen = [str(t) for t in form.getall("template", [])]
        context = await self._submit_context(request, document=document, chosen=chosen)
        try:
            doc = json.loads(document or "{}")
            if not isinstance(doc, dict):
                raise ValueError("the document must be a JSON object")
        except ValueError as e:
            context["errors"] = [Problem("document", f"not JSON: {e}")]
            return self._page(request, "submit.html", http_status=400, **context)
        submit = documents.submit_request(doc)
        if chosen:
            submit.template_config.extend(chosen)
        key = self._key(request)
        try:
            if form.get("action") == "submit":
                done = await self.gateway.call("SubmitBatchMediaProducingJob", submit, key)
                raise web.HTTPSeeOther(f"/jobs/{done.job_id}")
            preview = await self.gateway.call("PlanBatchMediaProducingJob", _plan_request(submit), key)
        except GatewayCallError as e:
            if e.code not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                              grpc.StatusCode.UNAVAILABLE):  # fmt: skip
                raise
            context["errors"] = list(e.problems) or [Problem("", str(e))]
            return self._page(request, "submit.html", http_status=400, **context)
        context.update(plans=[views.plan_view(p.plan) for p in preview.plans],
                       combinations=preview.combinations,
                       warnings=list(preview.warnings),
                       render_seconds=[p.render_seconds for p in preview.plans])  # fmt: skip
        return self._page(request, "submit.html", **context)

    async def templates_page(self, request: web.Request) -> web.StreamResponse:
        listing = api.ListTemplatesRequest(max_results=100, next_token=request.query.get("next", ""))
        found = await self.gateway.call("ListTemplates", listing, self._key(request))
        rows = [
            {"cells": (t.name, t.template_id, t.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M")),
             "delete": f"/templates/{t.template_id}/delete", "href": f"/templates/{t.template_id}"}
            for t in found.templates
        ]  # fmt: skip
        return self._page(request, "listing.html", page="templates", heading="Templates",
                          columns=("Name", "Id", "Created"), rows=rows, token=found.next_token)  # fmt: skip

    async def template(self, request: web.Request) -> web.StreamResponse:
        get = api.GetTemplateRequest(template_id=request.match_info["id"])
        found = await self.gateway.call("GetTemplate", get, self._key(request))
        content = json_format.MessageToDict(found.template.config)
        return self._page(request, "template.html", page="templates", template=found.template,
                          content=json.dumps(content, indent=2, ensure_ascii=False))  # fmt: skip

    async def delete_template(self, request: web.Request) -> web.StreamResponse:
        delete = api.DeleteTemplateRequest(template_id=request.match_info["id"])
        await self.gateway.call("DeleteTemplate", delete, self._key(request))
        raise web.HTTPSeeOther("/templates")

    async def media_page(self, request: web.Request) -> web.StreamResponse:
        listing = api.ListMediaRequest(max_results=100, next_token=request.query.get("next", ""))
        found = await self.gateway.call("ListMedia", listing, self._key(request))
        rows = [
            {"cells": (m.title or os.path.basename(m.input_url), m.media_id, m.media_type,
                       f"{m.duration:.2f} s"), "delete": f"/media/{m.media_id}/delete", "href": ""}
            for m in found.media_list
        ]  # fmt: skip
        columns = ("Title", "MediaId", "Type", "Duration")
        return self._page(request, "listing.html", page="media", heading="Media", columns=columns, rows=rows,
                          token=found.next_token)  # fmt: skip

    async def delete_media(self, request: web.Request) -> web.StreamResponse:
        delete = api.DeleteMediaRequest(media_ids=[request.match_info["id"]])
        await self.gateway.call("DeleteMedia", delete, self._key(request))
        raise web.HTTPSeeOther("/media")

    # -- outputs -------------------------------------------------------------------------------------

    def _link(self, media_url: str, now: float) -> str:
        """A link the browser can fetch: signed and short-lived for a local file, presigned for S3."""
        if urlsplit(media_url).scheme == "s3":
            return self._presigned(media_url)
        path = links.local_path(media_url)
        return self.signer.link(path, now) if path else ""

    def _presigned(self, url: str) -> str:
        import boto3  # only where s3:// outputs are used
        from botocore.config import Config

        s = self.settings
        client = boto3.client("s3", endpoint_url=s.s3_endpoint_url or None, region_name=s.s3_region or None,
                              aws_access_key_id=s.s3_access_key_id or None,
                              aws_secret_access_key=s.s3_secret_access_key or None,
                              config=Config(signature_version="s3v4"))  # fmt: skip
        parts = urlsplit(url)
        where = {"Bucket": parts.netloc, "Key": parts.path.lstrip("/")}
        return str(client.generate_presigned_url("get_object", ExpiresIn=int(s.link_seconds), Params=where))

    def _size(self, media_url: str) -> int | None:
        path = links.local_path(media_url)
        try:
            return os.path.getsize(path) if path else None
        except OSError:
            return None

    async def file(self, request: web.Request) -> web.StreamResponse:
        """A file a valid link names, with byte ranges (a player seeks); only under the output root."""
        q = request.query
        path = self.signer.path_of(q.get("p", ""), q.get("e", ""), q.get("s", ""), time.time())
        if path is None:
            raise web.HTTPForbidden(text="this link is not valid (or has expired): reload the page")
        real = roots.real(path)
        if not roots.is_under(real, [self.output_root]) or not await asyncio.to_thread(os.path.isfile, real):
            raise web.HTTPNotFound()
        kind = {".mp4": "video/mp4", ".jpg": "image/jpeg"}.get(
            os.path.splitext(real)[1], "application/octet-stream"
        )
        return web.FileResponse(real, headers={"Content-Type": kind, "Cache-Control": "private, max-age=300"})


def _plan_request(submit: api.SubmitBatchMediaProducingJobRequest) -> api.PlanBatchMediaProducingJobRequest:
    plan = api.PlanBatchMediaProducingJobRequest()
    plan.job.CopyFrom(submit)
    return plan


def _same_origin(request: web.Request) -> bool:
    """A change must come from a page of this console: its Origin (or Referer) names this host."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return bool(origin) and urlsplit(origin).netloc == request.host


@contextlib.contextmanager
def _ends_quietly() -> Iterator[None]:
    """An event stream ends when the browser leaves (its connection closes) or the gateway cannot be
    reached: the browser's EventSource connects again by itself, and the page's content stays."""
    try:
        yield
    except (ConnectionResetError, ClientConnectionResetError):
        pass
    except GatewayCallError as e:
        log.info("console: an event stream ended: %s", e)


async def _event_stream(request: web.Request) -> web.StreamResponse:
    stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                         **SECURITY_HEADERS})  # fmt: skip
    await stream.prepare(request)
    return stream


async def _send(stream: web.StreamResponse, event: str, html: str) -> None:
    data = "\n".join(f"data: {line}" for line in (html.splitlines() or [""]))
    await stream.write(f"event: {event}\n{data}\n\n".encode())
