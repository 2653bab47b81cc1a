"""Fixtures with real parts: a nats-server per test module, gateway and worker processes, databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import psycopg
import pytest

if TYPE_CHECKING:
    from pki import Pki
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cli.natsd import NatsServer, free_port
from reelmill.v1 import batch_service_pb2 as api
from reelmill.v1 import batch_service_pb2_grpc as api_grpc

PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


@dataclass
class Stack:
    """A running gateway (and optionally workers) with the folders they use."""

    address: str
    nats: NatsServer
    database_url: str
    media_dir: Path
    output_dir: Path
    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    channel: grpc.Channel | None = None
    credentials: grpc.ChannelCredentials | None = None  # a gateway serving TLS: how to reach it

    def open_channel(self) -> grpc.Channel:
        if self.credentials is not None:
            return grpc.secure_channel(self.address, self.credentials)
        return grpc.insecure_channel(self.address)

    @property
    def stub(self) -> api_grpc.BatchMediaProducingServiceStub:
        if self.channel is None:
            self.channel = self.open_channel()
        return api_grpc.BatchMediaProducingServiceStub(self.channel)

    def start(self, part: str, name: str | None = None, *extra: str) -> subprocess.Popen[bytes]:
        name = name or part
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([sys.executable, "-m", "cli", part, *extra], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        self.processes[name] = proc
        if part == "gateway":
            wait_healthy(self.address, proc, channel=self.open_channel())
        return proc

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        proc = self.processes.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        if self.channel is not None:
            self.channel.close()
        self.nats.stop()

    def watch(self, job_id: str, timeout_s: float = 120) -> list[api.WatchBatchMediaProducingJobResponse]:
        """Every change Watch reports until the job is terminal."""
        request = api.WatchBatchMediaProducingJobRequest(job_id=job_id)
        return list(self.stub.WatchBatchMediaProducingJob(request, timeout=timeout_s))

    def get(self, job_id: str) -> api.EditingBatchJob:
        request = api.GetBatchMediaProducingJobRequest(job_id=job_id)
        return self.stub.GetBatchMediaProducingJob(request, timeout=10).editing_batch_job

    def log(self, name: str) -> str:
        return (self.data_dir / f"{name}.log").read_text(errors="replace")


def tenant_stub(stack: Stack, key: str) -> api_grpc.BatchMediaProducingServiceStub:
    """A client of `stack` that calls as the tenant of API key `key`."""
    from cli.client import channel_for

    return api_grpc.BatchMediaProducingServiceStub(channel_for(stack.address, key))


def job_ended(stack: Stack, key: str, job_id: str, timeout_s: float = 240) -> api.EditingBatchJob:
    """The job once it is Finished, Failed or Cancelled, polled as the tenant of API key `key`."""
    get = api.GetBatchMediaProducingJobRequest(job_id=job_id)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = tenant_stub(stack, key).GetBatchMediaProducingJob(get, timeout=10).editing_batch_job
        if job.status in ("Finished", "Failed", "Cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not end in {timeout_s} s:\n{stack.log('worker')[-3000:]}")


def wait_healthy(
    address: str, proc: subprocess.Popen[bytes], timeout_s: float = 30, channel: grpc.Channel | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    with channel or grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the gateway exited during start-up"
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    raise AssertionError(f"gateway at {address} not healthy within {timeout_s} s")


def make_stack(tmp: Path, database_url: str | None, **env: str) -> Stack:
    data, media, outputs = tmp / "data", tmp / "media", tmp / "outputs"
    for d in (data, media, outputs):
        d.mkdir(parents=True, exist_ok=True)
    nats = NatsServer(data / "nats").start()
    address = f"127.0.0.1:{free_port()}"
    database_url = database_url or f"sqlite:///{data / 'reelmill.db'}"
    full_env = dict(os.environ)
    full_env.update({
        "REELMILL_NATS_URL": nats.url, "REELMILL_LISTEN": address, "REELMILL_DATABASE_URL": database_url,
        "REELMILL_DATA_DIR": str(data), "REELMILL_OUTPUT_DIR": str(outputs),
        "REELMILL_MEDIA_ROOTS": str(media), "REELMILL_LOG_LEVEL": "INFO", "REELMILL_OPEN": "1", **env,
    })  # fmt: skip
    return Stack(address, nats, database_url, media, outputs, data, full_env)


@contextmanager
def client_stack(tmp: Path) -> Iterator[Stack]:
    """A gateway and a worker on SQLite, with a 1.5 s clip (a.mp4) and a picture (still.png) to use:
    what the client tests (the CLI, the Node example) submit jobs to."""
    from cli.samples import make_image, make_video

    s = make_stack(tmp, None)
    try:
        make_video(str(s.media_dir / "a.mp4"), 320, 240, 1.5)
        make_image(str(s.media_dir / "still.png"), 320, 240)
        s.start("gateway")
        s.start("worker")
        yield s
    finally:
        s.close()


@contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"rm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


def small_job_doc(
    media: Path, count: int = 1, width: int = 160, height: int = 288, **output: Any
) -> dict[str, Any]:
    """A small valid Script job: two groups (a.mp4 and b.mp4, then still.png), 1.5 s per variant."""
    return {
        "InputConfig": {
            "MediaGroupArray": [
                {"GroupName": "opening", "MediaArray": [f"file://{media}/a.mp4", f"file://{media}/b.mp4"],
                 "Duration": 1.0},
                {"GroupName": "closing", "MediaArray": [f"file://{media}/still.png"], "Duration": 0.5},
            ]
        },
        "OutputConfig": {"Count": count, "Width": width, "Height": height, **output},
    }  # fmt: skip


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A CA with a server and a client certificate (tests/pki.py)."""
    from pki import make_pki

    return make_pki(tmp_path / "pki")
