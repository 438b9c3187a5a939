"""Fault injection for the resilience tests: a Redis and a PostgreSQL the test starts and stops
itself (never the shared ones), a TCP server that accepts and never answers, and a tally of
the answers given during a fault.

In CI (IDP_TEST_DATABASE_URL set) a missing ``redis-server`` or PostgreSQL binary fails the
test: these tests must not skip silently where they are meant to run."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import PG_URL
from tests.helpers import free_port


def _missing(what: str) -> None:
    message = f"{what} is needed to inject this fault"
    if PG_URL:
        pytest.fail(message + " (IDP_TEST_DATABASE_URL is set: this test must run here)")
    pytest.skip(message)


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence; stop() and start() again on
    the same port, as an operator restarting it would."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server") or _missing("redis-server")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else _missing("PostgreSQL's initdb")


class PostgresServer:
    """A throw-away PostgreSQL cluster (``initdb`` in a temporary folder, a free loopback port,
    run as the ``postgres`` user when the test runs as root). Never the shared cluster."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
        self.directory = Path(tempfile.mkdtemp(prefix="idp-faults-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def init(self) -> None:
        if self._as_root:
            shutil.chown(self.directory, "postgres", "postgres")
        result = self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                           "--no-sync", "-E", "UTF8")
        assert result.returncode == 0, result.stderr

    def start(self) -> None:
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                           "-o", f"-p {self.port} -h 127.0.0.1 -k {self.directory} -F", "start")
        assert result.returncode == 0, result.stderr + self.log.read_text()

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stop for good and delete the cluster's folder."""
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


class SilentServer:
    """Accepts TCP connections on loopback and never answers (nor closes): the hanging
    dependency. ``url`` serves any http:// path."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(connection)  # held open, never read nor answered

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.sock.close()


class Tally:
    """Answers given during a phase: counts by status code (or transport error), thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_phase: dict[str, Counter] = {}

    def add(self, phase: str, outcome: int | str) -> None:
        with self.lock:
            self.by_phase.setdefault(phase, Counter())[outcome] += 1

    def report(self) -> str:
        return "; ".join(f"{phase}: {dict(sorted(counts.items(), key=str))}"
                         for phase, counts in self.by_phase.items())
