"""The web console in a real browser (issue 15): Debian's Chromium driven by Playwright, against a real
stack (gateway with API keys, worker, console). Screenshots of each page are kept as test artifacts
(tests/.artifacts/console/, or $REELMILL_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from test_api import write_media

from conftest import Stack, free_port, make_stack, small_job_doc
from gateway.tenants import hash_key

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
playwright = pytest.importorskip("playwright.sync_api")

KEYS = {"acme": "rmk_acme-console", "globex": "rmk_globex-console"}
ARTIFACTS = (
    Path(os.environ.get("REELMILL_TEST_ARTIFACTS") or Path(__file__).parent / ".artifacts") / "console"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    keys = tmp / "keys.json"
    keys.write_text(json.dumps({"keys": [{"tenant": t, "sha256": hash_key(k)} for t, k in KEYS.items()]}))
    port = free_port()
    s = make_stack(tmp / "stack", None, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(keys),
                   REELMILL_CONSOLE_LISTEN=f"127.0.0.1:{port}")  # fmt: skip
    s.env["REELMILL_GATEWAY"] = s.address
    try:
        write_media(s.media_dir)
        s.start("gateway")
        s.start("worker")
        s.start("console")
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield s
    finally:
        s.close()


def wait_http(url: str, timeout_s: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def console_url(stack: Stack) -> str:
    # localhost, not 127.0.0.1: browsers keep a Secure cookie from http://localhost only
    return f"http://localhost:{stack.env['REELMILL_CONSOLE_LISTEN'].rpartition(':')[2]}"


def signed_in(browser: Any, stack: Stack, tenant: str) -> Any:
    # bypass_csp: Playwright evaluates its waits as strings, which the console's CSP (rightly) forbids
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    page.goto(console_url(stack) + "/")
    assert page.url.endswith("/login")
    shoot(page, "login")
    page.fill("#key", KEYS[tenant])
    page.click("button[type=submit]")
    page.wait_for_url(console_url(stack) + "/")
    return page


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def submit_through_the_console(page: Any, stack: Stack, doc: dict[str, Any], preview: bool = True) -> str:
    page.click("text=Submit")
    page.fill("#document", json.dumps(doc, indent=2))
    if preview:
        page.click("button[value=preview]")
        page.wait_for_selector("table.plan")
        shoot(page, "submit-preview")
    page.click("button[value=submit]")
    page.wait_for_url("**/jobs/*")
    return str(page.url.rsplit("/", 1)[1])


def test_a_job_submitted_through_the_console_plays_when_finished(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "acme")
    shoot(page, "jobs-empty")
    # A wrong document is answered at the field it names.
    bad = small_job_doc(stack.media_dir, 2)
    bad["OutputConfig"]["Count"] = 0
    page.click("text=Submit")
    page.fill("#document", json.dumps(bad))
    page.click("button[value=preview]")
    assert "OutputConfig.Count" in page.inner_text("ul.problems")
    shoot(page, "submit-errors")

    job_id = submit_through_the_console(page, stack, small_job_doc(stack.media_dir, 2))
    page.evaluate("window.__notReloaded = true")
    shoot(page, "job-running")
    page.wait_for_function(
        "document.querySelector('#job-status').textContent === 'Finished'", timeout=120_000
    )
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    page.wait_for_function("document.querySelectorAll('video').length === 2", timeout=30_000)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 2)", timeout=30_000
    )
    shoot(page, "job-finished")
    players = page.evaluate(
        "Array.from(document.querySelectorAll('video')).map(v => [v.readyState, v.duration])"
    )
    for index, (ready, duration) in enumerate(players):
        with av.open(str(stack.output_dir / "acme" / job_id / f"{index}.mp4")) as c:
            stream = c.streams.video[0]
            file_s = float(stream.frames / stream.average_rate) if stream.frames else float(c.duration) / 1e6
            frame_s = 1 / float(stream.average_rate)
        assert ready >= 2 and abs(duration - file_s) <= frame_s, (index, duration, file_s)
    # The poster is the worker's, through a signed link; a link cannot be bent to another file.
    poster = page.get_attribute("video", "poster")
    assert poster and poster.startswith("/files?")
    assert page.request.get(console_url(stack) + poster).headers["content-type"] == "image/jpeg"
    assert page.request.get(console_url(stack) + poster.replace("s=", "s=x")).status == 403
    # Seeking works: the server answers byte ranges.
    video = page.get_attribute("video", "src")
    ranged = page.request.get(console_url(stack) + video, headers={"Range": "bytes=0-99"})
    assert ranged.status == 206 and len(ranged.body()) == 100

    page.goto(console_url(stack) + "/")
    page.wait_for_selector(f"tr[data-job='{job_id}']")
    assert "Finished" in page.inner_text(f"tr[data-job='{job_id}']")
    shoot(page, "jobs")


def test_a_failed_variant_shows_its_error_code(browser: Any, stack: Stack) -> None:
    page = signed_in(browser, stack, "acme")
    doc = small_job_doc(stack.media_dir, 1)
    doc["InputConfig"]["MediaGroupArray"][0]["MediaArray"] = [f"file://{stack.media_dir}/missing.mp4"]
    submit_through_the_console(page, stack, doc, preview=False)
    page.wait_for_function("document.querySelector('#job-status').textContent === 'Failed'", timeout=120_000)
    page.wait_for_selector("code.error-code")
    assert page.inner_text("code.error-code") == "InvalidMaterial.NotFound"
    shoot(page, "job-failed")


def test_another_tenants_job_is_not_found_and_changes_need_the_pages_token(
    browser: Any, stack: Stack
) -> None:
    acme = signed_in(browser, stack, "acme")
    job_id = submit_through_the_console(acme, stack, small_job_doc(stack.media_dir, 1), preview=False)
    globex = signed_in(browser, stack, "globex")
    response = globex.goto(console_url(stack) + f"/jobs/{job_id}")
    assert response is not None and response.status == 404
    assert "Not found" in globex.inner_text("h1")
    shoot(globex, "other-tenant")
    assert "Variant" not in globex.inner_text("body")  # nothing of the job, only that it is not found
    # A cancel without the page's CSRF token (as another site would send it) is refused.
    refused = acme.request.post(console_url(stack) + f"/jobs/{job_id}/cancel", form={"csrf": "forged"})
    assert refused.status == 403
    # The session cookie is HTTP-only: the page's scripts cannot read it.
    assert "reelmill_console" not in acme.evaluate("document.cookie")


def test_reelmill_dev_serves_the_console_and_prints_its_url(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELMILL_")}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "dev", "--data-dir", str(tmp_path), "--listen",
                             f"127.0.0.1:{free_port()}", "--console-listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready"):
                break
        assert f"console      http://127.0.0.1:{port}/\n" in lines, lines
        wait_http(f"http://127.0.0.1:{port}/")
    finally:
        proc.terminate()
        proc.communicate(timeout=60)  # reads the rest and closes the pipe


def test_cancel_templates_and_media_through_the_console(browser: Any, stack: Stack) -> None:
    from conftest import tenant_stub
    from reelmill.v1 import batch_service_pb2 as api

    page = signed_in(browser, stack, "acme")
    submit_through_the_console(page, stack, small_job_doc(stack.media_dir, 6), preview=False)
    page.click("#cancel button")
    page.wait_for_function(
        "document.querySelector('#job-status').textContent === 'Cancelled'", timeout=120_000
    )
    shoot(page, "job-cancelled")
    assert page.query_selector("#cancel") is None  # nothing more to cancel

    look = {"Name": "summer", "Config": json.dumps({"OutputTemplateConfig": {"Width": 160, "Height": 288}})}
    added = tenant_stub(stack, KEYS["acme"]).AddTemplate(api.AddTemplateRequest(name=look["Name"],
                                                         config_json=look["Config"]), timeout=30)  # fmt: skip
    page.click("text=Templates")
    page.click("text=summer")
    assert '"Width": 160' in page.inner_text("pre.document")
    shoot(page, "template")
    page.click("button.danger")
    page.wait_for_url("**/templates")
    assert added.template.template_id not in page.inner_text("body")
    page.click("text=Media")
    assert page.inner_text("h1") == "Media"  # each finished variant is in the media library
    shoot(page, "media")


def test_the_job_list_shows_a_new_job_without_a_reload(browser: Any, stack: Stack) -> None:
    from cli.client import submit_request
    from conftest import tenant_stub

    page = signed_in(browser, stack, "acme")
    page.evaluate("window.__notReloaded = true")
    request = submit_request(small_job_doc(stack.media_dir, 1), "/")
    job_id = tenant_stub(stack, KEYS["acme"]).SubmitBatchMediaProducingJob(request, timeout=30).job_id
    page.wait_for_selector(f"tr[data-job='{job_id}']", timeout=30_000)  # the list polls every 2 s
    assert page.evaluate("window.__notReloaded === true")


def test_s3_outputs_play_through_presigned_links(tmp_path: Path) -> None:
    """The console presigns a GET for an s3:// output with the S3 settings the workers use."""
    import urllib.request

    import boto3
    from moto.server import ThreadedMotoServer

    from console.gateway_client import Gateway
    from console.pages import Console
    from console.settings import ConsoleSettings

    server = ThreadedMotoServer(port=free_port(), verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._port}"
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=endpoint, **creds)
        s3.create_bucket(Bucket="reels")
        s3.put_object(Bucket="reels", Key="acme/0.mp4", Body=b"video bytes")
        settings = ConsoleSettings(output_dir=str(tmp_path), s3_endpoint_url=endpoint, s3_region="us-east-1",
                                   s3_access_key_id="test", s3_secret_access_key="test")  # fmt: skip
        console = Console(settings, Gateway("127.0.0.1:1"))
        link = console._link("s3://reels/acme/0.mp4", time.time())
        assert "X-Amz-Signature" in link and "X-Amz-Expires=900" in link
        with urllib.request.urlopen(link, timeout=10) as answer:
            assert answer.read() == b"video bytes"
    finally:
        server.stop()
