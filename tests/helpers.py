"""Helpers for tests that run the real ``idp`` command or server as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

IDP = str(Path(sys.executable).with_name("idp"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Settings only for apps built inside the test process (see the ``environ`` fixture): a real
#: server process runs its background workers as it would in production.
IN_PROCESS_ONLY = frozenset({"IDP_BACKCHANNEL_WORKER", "IDP_OUTBOX_WORKER"})


def idp_env(environ: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({k: v for k, v in environ.items() if k not in IN_PROCESS_ONLY})
    # A test's server stops at once when the test is done; the rolling-restart test
    # (test_faults_rolling_restart) sets its own drain.
    env.setdefault("IDP_SHUTDOWN_DRAIN_SECONDS", "0")
    return env


def run_idp(args: list[str], environ: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([IDP, *args], env=idp_env(environ), capture_output=True, text=True,
                          timeout=60, **kwargs)


def wait_for(url: str, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def serving(environ: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen]:
    """``idp serve`` (one gunicorn worker) on a loopback port, its output in ``log``; yields
    once ``/healthz`` answers and stops the server afterwards."""
    with open(log, "wb") as output:
        process = subprocess.Popen([IDP, "serve", "--port", str(port), "--workers", "1"],
                                   env=idp_env(environ), stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", process=process)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=15)


class Clock:
    """The server's clock (:mod:`idp.clock`) as a test moves it: ``clock.advance(61)``, or, once
    frozen, ``clock.now += 60``."""

    def __init__(self, frozen_at: float | None = None) -> None:
        from idp import clock

        self._clock = clock
        if frozen_at is not None:
            clock.freeze(frozen_at)

    @property
    def now(self) -> float:
        return self._clock.time()

    @now.setter
    def now(self, value: float) -> None:
        self._clock.freeze(value)

    def advance(self, seconds: float) -> None:
        self._clock.advance(seconds)
