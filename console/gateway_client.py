"""The console's way to the gateway: the public gRPC API, as the signed-in user (their API key with
every call), and the gateway's errors read into what a page shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

CALL_TIMEOUT_S = 30.0
KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class Problem:
    """A field of the request and what is wrong with it (the gateway's BadRequest), or a whole-call
    error (field "")."""

    field: str
    description: str


class GatewayCallError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.problems = problems

    @classmethod
    def of(cls, e: grpc.aio.AioRpcError) -> GatewayCallError:
        problems: list[Problem] = []
        for key, value in e.trailing_metadata() or ():
            if key == "grpc-status-details-bin" and isinstance(value, bytes):
                status = status_pb2.Status.FromString(value)
                for detail in status.details:
                    bad = error_details_pb2.BadRequest()
                    if detail.Unpack(bad):
                        problems += [Problem(v.field, v.description) for v in bad.field_violations]
        return cls(e.code(), e.details() or e.code().name, tuple(problems))


class Gateway:
    def __init__(self, address: str, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.channel = (
            grpc.aio.secure_channel(address, credentials)
            if credentials
            else grpc.aio.insecure_channel(address)
        )
        self.stub = api_grpc.BatchMediaProducingServiceStub(self.channel)

    async def call(self, method: str, request: Message, key: str) -> Any:
        """One unary call as the holder of `key`; GatewayCallError with the gateway's answer."""
        try:
            return await getattr(self.stub, method)(request, metadata=_metadata(key), timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as e:
            raise GatewayCallError.of(e) from e

    async def watch(self, job_id: str, key: str) -> AsyncIterator[api.EditingBatchJob]:
        """The job now, then each time it changes, until it ends."""
        stream = self.stub.WatchBatchMediaProducingJob(
            api.WatchBatchMediaProducingJobRequest(job_id=job_id), metadata=_metadata(key)
        )
        try:
            async for change in stream:
                yield change.editing_batch_job
        except grpc.aio.AioRpcError as e:
            raise GatewayCallError.of(e) from e
        finally:
            stream.cancel()

    async def close(self) -> None:
        await self.channel.close()


def _metadata(key: str) -> tuple[tuple[str, str], ...] | None:
    return ((KEY_HEADER, key),) if key else None
