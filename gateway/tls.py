"""TLS for everything the gateway serves: gRPC, the ICE door and /metrics.

A certificate and key (PEM files) turn TLS on; a client CA on top asks every gRPC and ICE client for
a certificate signed by it (mTLS). The files are read again when they change on disk (cert-manager
renews them in place), for connections made from then on: no restart. /metrics and /healthz take
TLS without client certificates, since kubelet probes and most scrapers carry none; keep them on an
internal interface (REELMILL_METRICS_HOST) where that matters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import grpc

log = logging.getLogger(__name__)

RELOAD_CHECK_S = 10.0  # how often the ssl contexts look at the files' modification times


class TlsSettingError(ValueError):
    """A TLS setting that cannot work; the message names the setting."""


@dataclass(frozen=True)
class TlsFiles:
    cert: str  # PEM certificate chain
    key: str  # PEM private key
    client_ca: str = ""  # PEM CA bundle clients' certificates must chain to; empty: no client certificates

    @classmethod
    def of(cls, cert: str, key: str, client_ca: str) -> TlsFiles | None:
        """The files of the settings, checked; None when TLS is off (no certificate, no key)."""
        if not cert and not key:
            if client_ca:
                raise TlsSettingError("REELMILL_TLS_CLIENT_CA needs REELMILL_TLS_CERT and REELMILL_TLS_KEY")
            return None
        if not cert or not key:
            missing = "REELMILL_TLS_KEY" if cert else "REELMILL_TLS_CERT"
            raise TlsSettingError(
                f"{missing} is required with {'REELMILL_TLS_CERT' if cert else 'REELMILL_TLS_KEY'}"
            )
        for name, path in (
            ("REELMILL_TLS_CERT", cert),
            ("REELMILL_TLS_KEY", key),
            ("REELMILL_TLS_CLIENT_CA", client_ca),
        ):
            if path and not os.path.isfile(path):
                raise TlsSettingError(f"{name}={path}: no such file")
        files = cls(cert, key, client_ca)
        files.context(
            client_auth=True
        )  # a bad PEM stops start-up here, naming nothing worse than ssl's error
        return files

    def stamp(self) -> tuple[float, ...]:
        return tuple(os.stat(p).st_mtime for p in (self.cert, self.key, self.client_ca) if p)

    def _read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    # -- gRPC

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials that read the files again for new connections once they change."""
        seen = [self.stamp()]

        def config() -> grpc.ServerCertificateConfiguration:
            return grpc.ssl_server_certificate_configuration(
                [(self._read(self.key), self._read(self.cert))],
                root_certificates=self._read(self.client_ca) if self.client_ca else None,
            )

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            try:
                now = self.stamp()
                if now == seen[0]:
                    return None
                fresh = config()
            except OSError as e:  # half-written during a renewal: keep the last good one
                log.warning("TLS files not reloaded: %s", e)
                return None
            seen[0] = now
            log.info("TLS certificate reloaded for gRPC")
            return fresh

        # gRPC takes None from the fetcher as "no change"; typeshed's signature does not say so.
        fetcher = cast(Callable[[], grpc.ServerCertificateConfiguration], fetch)
        return grpc.dynamic_ssl_server_credentials(
            config(), fetcher, require_client_authentication=bool(self.client_ca)
        )

    # -- HTTP (the ICE door, /metrics)

    def context(self, client_auth: bool) -> ssl.SSLContext:
        """A server context; with `client_auth` and a client CA, clients must present a certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        if client_auth and self.client_ca:
            ctx.load_verify_locations(self.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    async def keep_fresh(self, contexts: list[ssl.SSLContext], stop: asyncio.Event) -> None:
        """Loads the files into `contexts` again whenever they change, until `stop`."""
        seen = self.stamp()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), RELOAD_CHECK_S)
            except TimeoutError:
                pass
            try:
                now = self.stamp()
                if now != seen:
                    for ctx in contexts:
                        ctx.load_cert_chain(self.cert, self.key)
                        if self.client_ca and ctx.verify_mode == ssl.CERT_REQUIRED:
                            ctx.load_verify_locations(self.client_ca)
                    seen = now
                    log.info("TLS certificate reloaded for HTTP")
            except (OSError, ssl.SSLError) as e:
                log.warning("TLS files not reloaded: %s", e)
