"""Outputs confined per tenant (issue 13): each tenant writes only in its own folder and under its own
S3 prefixes; another tenant's place is refused at Submit; no job overwrites another job's output."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from test_api import write_media

from cli.client import submit_request
from conftest import Stack, job_ended, make_stack, small_job_doc, tenant_stub
from gateway.tenants import hash_key
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

KEYS = {"acme": "rmk_acme-out", "globex": "rmk_globex-out"}


def stub(stack: Stack, tenant: str) -> api_grpc.BatchMediaProducingServiceStub:
    return tenant_stub(stack, KEYS[tenant])


def submit(stack: Stack, tenant: str, **output: object) -> str:
    request = submit_request(small_job_doc(stack.media_dir, 1, **output), "/")
    return stub(stack, tenant).SubmitBatchMediaProducingJob(request, timeout=30).job_id


def ended(stack: Stack, tenant: str, job_id: str) -> api.EditingBatchJob:
    return job_ended(stack, KEYS[tenant], job_id)


def refused(stack: Stack, tenant: str, **output: object) -> str:
    with pytest.raises(grpc.RpcError) as e:
        submit(stack, tenant, **output)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return e.value.details() or ""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("outputs")
    keys = tmp / "keys.json"
    entries = [{"tenant": "acme", "sha256": hash_key(KEYS["acme"])},
               {"tenant": "globex", "sha256": hash_key(KEYS["globex"]),
                "output_s3_prefixes": ["s3://globex-videos/"]}]  # fmt: skip
    keys.write_text(json.dumps({"keys": entries}))
    s = make_stack(tmp / "stack", None, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(keys),
                   REELMILL_OUTPUT_S3_PREFIXES="s3://reels/{tenant}/")  # fmt: skip
    try:
        write_media(s.media_dir)
        s.start("gateway")
        s.start("worker")
        yield s
    finally:
        s.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_tenant_writes_only_in_its_own_folder(stack: Stack) -> None:
    first = ended(stack, "acme", submit(stack, "acme"))
    url = first.sub_job_list[0].media_url
    path = Path(url.removeprefix("file://"))
    assert first.status == "Finished" and path.parent == stack.output_dir / "acme" / first.job_id
    before = digest(path)

    # globex cannot name acme's file, nor the shared root; acme cannot name globex's folder.
    says = refused(stack, "globex", MediaURL=url)
    assert "OutputConfig.MediaURL" in says and f"{stack.output_dir}/globex" in says
    assert "OutputConfig.MediaURL" in refused(stack, "globex", MediaURL=f"file://{stack.output_dir}/x.mp4")
    assert "OutputConfig.MediaURL" in refused(
        stack, "acme", MediaURL=f"file://{stack.output_dir}/globex/x.mp4"
    )

    # acme itself cannot overwrite its earlier job's output: the new job fails, the file stays.
    again = ended(stack, "acme", submit(stack, "acme", MediaURL=url))
    assert again.status == "Failed"
    assert again.sub_job_list[0].error_code == "Output.AlreadyExists", again
    assert digest(path) == before
    assert ended(stack, "acme", first.job_id).sub_job_list[0].status == "Success"

    # A place of its own that is free is fine.
    mine = ended(
        stack, "acme", submit(stack, "acme", MediaURL=f"file://{stack.output_dir}/acme/own/clip.mp4")
    )
    assert mine.status == "Finished" and (stack.output_dir / "acme" / "own" / "clip.mp4").is_file()


def test_s3_outputs_go_only_under_the_tenants_prefixes(stack: Stack) -> None:
    """acme has the settings' template (s3://reels/acme/), globex its keys-file entry's own."""
    assert "s3://reels/acme/" in refused(stack, "acme", MediaURL="s3://reels/globex/x.mp4")
    assert "s3://reels/acme/" in refused(stack, "acme", MediaURL="s3://globex-videos/x.mp4")
    assert "s3://globex-videos/" in refused(stack, "globex", MediaURL="s3://reels/globex/x.mp4")
