"""Test certificates (a CA, a server certificate for 127.0.0.1 and localhost, a client certificate)
made with cryptography, and gateways that serve TLS with them."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import Stack, make_stack

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Key, issuer: tuple[str, Key] | None, *, ca: bool = False,
          server: bool = False) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, key: Key | None = None, cert: x509.Certificate | None = None) -> str:
    if key is not None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


@dataclass
class Pki:
    folder: Path
    ca_key: Key
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def new_server_cert(self) -> x509.Certificate:
        """A fresh server certificate written over the old files (as cert-manager renews)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert("reelmill-gateway", key, ("reelmill-test-ca", self.ca_key), server=True)
        tmp_cert, tmp_key = self.folder / "new.crt", self.folder / "new.key"
        _write(tmp_cert, cert=cert)
        _write(tmp_key, key=key)
        tmp_key.replace(self.server_key)
        tmp_cert.replace(self.server_cert)
        return cert


def make_pki(folder: Path) -> Pki:
    folder.mkdir()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("reelmill-test-ca", ca_key, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    return Pki(
        folder, ca_key, _write(folder / "ca.crt", cert=ca),
        _write(folder / "server.crt", cert=_cert("reelmill-gateway", server_key, ("reelmill-test-ca", ca_key),
                                                  server=True)),
        _write(folder / "server.key", key=server_key),
        _write(folder / "client.crt", cert=_cert("team-a", client_key, ("reelmill-test-ca", ca_key))),
        _write(folder / "client.key", key=client_key),
    )  # fmt: skip


def credentials(pki: Pki, client: bool = False) -> grpc.ChannelCredentials:
    read = lambda p: Path(p).read_bytes()  # noqa: E731
    if client:
        return grpc.ssl_channel_credentials(read(pki.ca), read(pki.client_key), read(pki.client_cert))
    return grpc.ssl_channel_credentials(read(pki.ca))


def tls_stack(tmp_path: Path, pki: Pki, client_ca: bool, **env: str) -> Stack:
    stack = make_stack(tmp_path, None, REELMILL_TLS_CERT=pki.server_cert, REELMILL_TLS_KEY=pki.server_key,
                       REELMILL_TLS_CLIENT_CA=pki.ca if client_ca else "", **env)  # fmt: skip
    stack.credentials = credentials(pki, client=client_ca)
    return stack
