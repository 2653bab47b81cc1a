"""TLS and mTLS (issue 14): gRPC, the ICE door and /metrics over TLS with a certificate the gateway
reads again when it changes; clients without a certificate refused when a client CA is set; the CLI
connects when told to."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pki import Pki, credentials, tls_stack

from cli.natsd import free_port
from conftest import Stack, make_stack
from reelmill.v1 import batch_service_pb2 as api


@pytest.fixture
def tls_gateway(tmp_path: Path, pki: Pki) -> Iterator[Stack]:
    metrics_port = free_port()
    stack = tls_stack(tmp_path, pki, client_ca=False, REELMILL_METRICS_PORT=str(metrics_port))
    stack.env["TEST_METRICS_PORT"] = str(metrics_port)
    try:
        stack.start("gateway")
        yield stack
    finally:
        stack.close()


def _list(channel: grpc.Channel) -> api.ListBatchMediaProducingJobsResponse:
    from reelmill.v1 import batch_service_pb2_grpc as api_grpc

    stub = api_grpc.BatchMediaProducingServiceStub(channel)
    return stub.ListBatchMediaProducingJobs(api.ListBatchMediaProducingJobsRequest(), timeout=10)


def test_grpc_and_metrics_over_tls_and_plain_clients_refused(tls_gateway: Stack, pki: Pki) -> None:
    assert list(tls_gateway.stub.ListBatchMediaProducingJobs(
        api.ListBatchMediaProducingJobsRequest(), timeout=10).editing_batch_job_list) == []  # fmt: skip
    with grpc.insecure_channel(tls_gateway.address) as plain, pytest.raises(grpc.RpcError) as e:
        _list(plain)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    # /metrics and /healthz over HTTPS, trusted through the CA
    context = ssl.create_default_context(cafile=pki.ca)
    port = tls_gateway.env["TEST_METRICS_PORT"]
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=5) as r:
        assert r.status == 200
    assert "gateway listening on" in tls_gateway.log("gateway") and "TLS)" in tls_gateway.log("gateway")


def test_the_cli_connects_when_told_to(tls_gateway: Stack, pki: Pki) -> None:
    def reelmill(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", "list", "--gateway", tls_gateway.address, *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    assert reelmill("--ca-cert", pki.ca).returncode == 0
    refused = reelmill()  # plain TCP to a TLS port
    assert refused.returncode != 0 and "Traceback" not in refused.stderr


def test_mtls_asks_every_client_for_a_certificate(tmp_path: Path, pki: Pki) -> None:
    ice_port = free_port()
    stack = tls_stack(tmp_path, pki, client_ca=True, REELMILL_ICE_LISTEN=f"127.0.0.1:{ice_port}")
    try:
        stack.start("gateway")
        assert _list(stack.open_channel()).editing_batch_job_list is not None  # with its certificate
        with grpc.secure_channel(stack.address, credentials(pki)) as anonymous, pytest.raises(grpc.RpcError):
            _list(anonymous)  # TLS, but no client certificate
        # The ICE door too: HTTPS, and only with a client certificate.
        url = f"https://127.0.0.1:{ice_port}/?Action=GetBatchMediaProducingJob&JobId=x"
        without = ssl.create_default_context(cafile=pki.ca)
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(url, context=without, timeout=5).read()
        with_cert = ssl.create_default_context(cafile=pki.ca)
        with_cert.load_cert_chain(pki.client_cert, pki.client_key)
        with pytest.raises(urllib.error.HTTPError) as answered:  # past TLS: ICE's own error for a bad call
            urllib.request.urlopen(url, context=with_cert, timeout=5)
        answered.value.close()
        assert answered.value.code in (400, 401, 403, 404)  # unsigned: refused by the door itself
    finally:
        stack.close()


def test_a_renewed_certificate_is_served_without_a_restart(tls_gateway: Stack, pki: Pki) -> None:
    host, port = tls_gateway.address.split(":")
    before = ssl.get_server_certificate((host, int(port)), ca_certs=pki.ca)
    renewed = pki.new_server_cert()
    time.sleep(1.1)  # a new modification time
    deadline = time.monotonic() + 20
    after = before
    while after == before and time.monotonic() < deadline:
        after = ssl.get_server_certificate((host, int(port)), ca_certs=pki.ca)
        time.sleep(0.2)
    assert after != before
    assert x509.load_pem_x509_certificate(after.encode()).serial_number == renewed.serial_number
    # and it still works as a gRPC endpoint, for a new connection
    assert _list(tls_gateway.open_channel()) is not None


def test_incomplete_tls_settings_stop_the_gateway_naming_the_setting(tmp_path: Path, pki: Pki) -> None:
    stack = make_stack(tmp_path, None, REELMILL_TLS_KEY=pki.server_key)
    try:
        done = subprocess.run([sys.executable, "-m", "cli", "gateway"], env=stack.env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    finally:
        stack.close()
    assert done.returncode != 0 and "REELMILL_TLS_CERT" in done.stderr


def test_health_over_tls(tls_gateway: Stack) -> None:
    with tls_gateway.open_channel() as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
