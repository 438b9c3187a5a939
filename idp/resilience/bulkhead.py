"""A cap on the request threads one slow dependency may hold (the bulkhead pattern).

A server that accepts a connection and never answers holds the thread that called it until
the call's timeout. Every request needing that server would do the same, and with a few threads
per worker (gunicorn gthread) the whole node would soon wait on it: sign-ins and ``/token``
too, which never needed it. So each remote host gets at most :data:`PER_HOST` calls in flight
per process; one more is refused at once (the caller treats it as the host being unavailable:
a CRL missing, a key set not fetched), and the node's other threads stay free.

Used by :mod:`idp.signatures.revocation` (CRL distribution points, OCSP responders) and
:mod:`idp.outbound` (clients' ``jwks_uri``, ``sector_identifier_uri``, back-channel logout).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter

log = logging.getLogger(__name__)

#: Calls in flight to one host from one process. Two keep a burst of legitimate first
#: fetches moving; more would only add threads waiting on the same slow host.
PER_HOST = 2
_LOG_EVERY = 60.0

REFUSED = Counter("idp_dependency_calls_refused_total", "Calls to a remote host refused at once "
                  "because earlier calls to it are still waiting (a slow or hanging dependency).",
                  ["dependency"])


class Saturated(Exception):
    """Too many calls to this host are in flight already."""


class HostBulkhead:
    def __init__(self, dependency: str, per_host: int = PER_HOST) -> None:
        self.dependency = dependency
        self.per_host = per_host
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._logged: dict[str, float] = {}

    @contextmanager
    def call(self, host: str) -> Iterator[None]:
        with self._lock:
            busy = self._in_flight.get(host, 0)
            if busy >= self.per_host:
                self._refused(host)
                raise Saturated(host)
            self._in_flight[host] = busy + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[host] -= 1
                if not self._in_flight[host]:
                    del self._in_flight[host]

    def _refused(self, host: str) -> None:  # called with the lock held
        REFUSED.labels(dependency=self.dependency).inc()
        now = time.monotonic()
        if now - self._logged.get(host, 0.0) >= _LOG_EVERY:
            self._logged[host] = now
            log.warning("%s: %d calls to %s still waiting; further calls refused until one ends",
                        self.dependency, self.per_host, host)
