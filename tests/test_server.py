"""The gateway as a server: standard health checking, reflection, a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from cli.client import submit_request
from conftest import make_stack
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

SERVICE = "reelmill.v1.BatchMediaProducingService"


def test_health_reflection_and_graceful_stop(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, None)
    try:
        gateway = stack.start("gateway")
        with grpc.insecure_channel(stack.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            serving = health_pb2.HealthCheckResponse.SERVING
            assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status == serving

            reflection = ProtoReflectionDescriptorDatabase(channel)
            services = set(reflection.get_services())
            assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
            method = reflection.FindFileContainingSymbol(SERVICE)
            assert method.package == "reelmill.v1"

            # A Watch in progress ends with UNAVAILABLE when the gateway stops, so the client reconnects.
            job = {"InputConfig": {"MediaArray": [f"file://{stack.media_dir}/never.mp4"]}}
            job_id = (
                api_grpc.BatchMediaProducingServiceStub(channel)
                .SubmitBatchMediaProducingJob(submit_request(job, "/"))
                .job_id
            )
            stream = api_grpc.BatchMediaProducingServiceStub(channel).WatchBatchMediaProducingJob(
                api.WatchBatchMediaProducingJobRequest(job_id=job_id), timeout=30
            )
            assert next(stream).editing_batch_job.status == "Init"
            started = time.monotonic()
            gateway.send_signal(signal.SIGTERM)
            try:
                for _ in stream:
                    pass
                raise AssertionError("the watch ended without an error")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNAVAILABLE
            assert gateway.wait(15) == 0
            assert time.monotonic() - started < 10
    finally:
        stack.close()
