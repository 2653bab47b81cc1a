"""API keys and tenants: no key, no access; another tenant's jobs do not exist for you."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from cli.client import channel_for, submit_request
from conftest import make_stack
from gateway.tenants import hash_key
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

KEYS = {"acme": "rmk_acme-secret", "globex": "rmk_globex-secret"}


def stub(address: str, key: str = "") -> api_grpc.BatchMediaProducingServiceStub:
    return api_grpc.BatchMediaProducingServiceStub(channel_for(address, key))


def code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as e:
        call()  # type: ignore[operator]
    return e.value.code()


def test_keys_and_tenants(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(
        json.dumps({"keys": [{"tenant": t, "sha256": hash_key(k)} for t, k in KEYS.items()]})
    )
    stack = make_stack(tmp_path / "stack", None, REELMILL_OPEN="", REELMILL_API_KEYS_FILE=str(keys_file))
    try:
        stack.start("gateway")
        acme, globex = stub(stack.address, KEYS["acme"]), stub(stack.address, KEYS["globex"])
        job = {"InputConfig": {"MediaArray": [f"file://{stack.media_dir}/a.mp4"]}}
        job_id = acme.SubmitBatchMediaProducingJob(submit_request(job, "/")).job_id

        for caller in (stub(stack.address), stub(stack.address, "rmk_wrong")):
            assert (
                code(
                    lambda c=caller: c.GetBatchMediaProducingJob(
                        api.GetBatchMediaProducingJobRequest(job_id=job_id)
                    )
                )
                == grpc.StatusCode.UNAUTHENTICATED
            )
            assert (
                code(lambda c=caller: c.SubmitBatchMediaProducingJob(submit_request(job, "/")))
                == grpc.StatusCode.UNAUTHENTICATED
            )

        # Another tenant cannot tell the job exists: NOT_FOUND, as for an id that was never issued.
        get = api.GetBatchMediaProducingJobRequest(job_id=job_id)
        assert code(lambda: globex.GetBatchMediaProducingJob(get)) == grpc.StatusCode.NOT_FOUND
        assert (
            code(
                lambda: globex.CancelBatchMediaProducingJob(
                    api.CancelBatchMediaProducingJobRequest(job_id=job_id)
                )
            )
            == grpc.StatusCode.NOT_FOUND
        )
        assert (
            code(
                lambda: list(
                    globex.WatchBatchMediaProducingJob(api.WatchBatchMediaProducingJobRequest(job_id=job_id))
                )
            )
            == grpc.StatusCode.NOT_FOUND
        )
        listing = api.ListBatchMediaProducingJobsRequest(job_id=job_id)
        assert list(globex.ListBatchMediaProducingJobs(listing).editing_batch_job_list) == []
        assert [j.job_id for j in acme.ListBatchMediaProducingJobs(listing).editing_batch_job_list] == [
            job_id
        ]
        assert acme.GetBatchMediaProducingJob(get).editing_batch_job.status == "Init"
        # The same ClientToken in two tenants makes two jobs.
        doc = {**job, "ClientToken": "campaign-1"}
        ids = {s.SubmitBatchMediaProducingJob(submit_request(doc, "/")).job_id for s in (acme, globex)}
        assert len(ids) == 2
    finally:
        stack.close()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "REELMILL_API_KEYS_FILE"),
        ("false", "REELMILL_API_KEYS_FILE"),
        ("No", "REELMILL_API_KEYS_FILE"),
        ("maybe", "REELMILL_OPEN='maybe'"),
    ],
)
def test_gateway_refuses_to_start_without_keys_unless_told_to_run_open(
    tmp_path: Path, value: str, says: str
) -> None:
    """Fails closed: REELMILL_OPEN=false is false (it used to open the gateway), a value that is no
    boolean stops it naming the setting."""
    stack = make_stack(tmp_path, None, REELMILL_OPEN=value)
    try:
        result = subprocess.run([sys.executable, "-m", "cli", "gateway"], env=stack.env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode != 0
        assert says in result.stderr
    finally:
        stack.close()
