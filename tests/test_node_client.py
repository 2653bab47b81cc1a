"""The Node.js example client (examples/node) against a real gateway and worker: any language can call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pki import Pki, tls_stack

from cli.samples import make_video
from conftest import Stack, client_stack
from gateway.tenants import hash_key

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node"
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are needed for the Node.js client example"
)


@pytest.fixture(scope="module")
def installed() -> None:
    """`npm ci` once: the exact versions of package-lock.json into examples/node/node_modules."""
    assert NPM is not None
    run = subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, installed: None) -> Iterator[Stack]:
    with client_stack(tmp_path_factory.mktemp("node")) as s:
        yield s


def node_client(stack: Stack, job: dict[str, object], name: str) -> subprocess.CompletedProcess[str]:
    path = stack.media_dir / name
    path.write_text(json.dumps(job), encoding="utf-8")
    assert NODE is not None
    return subprocess.run([NODE, str(EXAMPLE / "submit-and-watch.js"), str(path), "--gateway", stack.address],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_node_client_submits_and_watches_to_the_end(stack: Stack) -> None:
    # As ICE clients send it: every config a JSON string; media relative to the job file.
    job = {
        "InputConfig": json.dumps({"MediaGroupArray": [
            {"GroupName": "opening", "MediaArray": ["file:a.mp4"], "Duration": 1.0},
            {"GroupName": "closing", "MediaArray": ["file:still.png"], "Duration": 0.5},
        ]}),
        "EditingConfig": json.dumps({"MediaConfig": {"Volume": 0.8}}),
        "OutputConfig": json.dumps({"Count": 2, "Width": 160, "Height": 288}),
        "UserData": json.dumps({"From": "node"}),
    }  # fmt: skip
    run = node_client(stack, job, "node-job.json")
    assert run.returncode == 0, run.stdout + run.stderr + stack.log("worker")
    lines = run.stdout.splitlines()
    job_id = lines[0].removeprefix("submitted job ")
    assert len(job_id) == 32
    assert f"job {job_id} Finished" in lines
    assert "  variant 1: Success 100%" in lines
    for index in (0, 1):
        line = next(x for x in lines if x.startswith(f"variant {index}: Success "))
        assert line.endswith(f" file://{stack.output_dir}/default/{job_id}/{index}.mp4"), line
    assert lines[-1] == f"job {job_id} Finished: 2 of 2 variants rendered"

    done = stack.get(job_id)  # what the client saw is what the gateway has
    assert done.status == "Finished" and json.loads(done.user_data) == {"From": "node"}
    assert all(Path(s.media_url.removeprefix("file://")).is_file() for s in done.sub_job_list)


def test_node_client_prints_field_violations(stack: Stack) -> None:
    job = {"InputConfig": '{"MediaArray": ["file:a.mp4"], "SpeechTextArray": ["a" "b"]}'}
    run = node_client(stack, job, "node-bad.json")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.startswith("error: INVALID_ARGUMENT: ")
    assert any(line.startswith("  InputConfig: malformed JSON") for line in run.stderr.splitlines()), (
        run.stderr
    )


def test_node_client_over_mtls_with_an_api_key(tmp_path: Path, pki: Pki, installed: None) -> None:
    """The example connects with TLS when told (REELMILL_CA_CERT, client certificate for mTLS) and
    sends REELMILL_API_KEY as x-api-key; without the key the gateway refuses it."""
    key = "rmk_node_example_key_0123456789"
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"tenant": "acme", "sha256": hash_key(key)}]}))
    stack = tls_stack(
        tmp_path / "stack", pki, client_ca=True, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(keys)
    )
    try:
        make_video(str(stack.media_dir / "a.mp4"), 320, 240, 1.0)
        stack.start("gateway")
        stack.start("worker")
        job = {"InputConfig": {"MediaArray": ["file:a.mp4"]}, "OutputConfig": {"Count": 1, "Width": 160,
               "Height": 288}}  # fmt: skip
        path = stack.media_dir / "tls-job.json"
        path.write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ, "REELMILL_CA_CERT": pki.ca, "REELMILL_CLIENT_CERT": pki.client_cert,
               "REELMILL_CLIENT_KEY": pki.client_key}  # fmt: skip
        assert NODE is not None
        run = lambda extra: subprocess.run(  # noqa: E731
            [NODE, str(EXAMPLE / "submit-and-watch.js"), str(path), "--gateway", stack.address],
            capture_output=True, text=True, timeout=120, env={**env, **extra},
        )  # fmt: skip
        refused = run({})
        done = run({"REELMILL_API_KEY": key})
    finally:
        stack.close()
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].endswith("Finished: 1 of 1 variants rendered")
