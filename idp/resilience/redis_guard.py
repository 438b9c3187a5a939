"""Redis as an accelerator, never a single point of failure.

Redis holds counters only: the per-address limits on the forms that check secrets
(:mod:`idp.auth.ratelimit`) and the per-account lockout (:mod:`idp.auth.lockout`). The source
of truth is PostgreSQL. So when Redis is unreachable or slow, a node keeps serving:

- every Redis call has a bounded socket timeout (``IDP_REDIS_TIMEOUT_MS``, 100 ms by default)
  and no client-side retries, so an outage costs a request at most that long;
- after a failure the node stops asking Redis for ``IDP_REDIS_RETRY_SECONDS``; then the next
  call (or ``/readyz``) tries again, and the first success ends the outage: no restart;
- lockout counters go to the database meanwhile (every node sees the same, so spreading
  attempts over nodes gains nothing); rate limits go to a stricter per-process counter
  (Flask-Limiter's in-memory fallback, ``IDP_LOGIN_RATE_LIMIT_FALLBACK``);
- replay caches (the ``jti`` of client assertions) are in the database in every mode, so an
  outage never opens them;
- one WARNING log line when a process loses Redis and one when it has it back (not
  one per request), the gauge ``idp_degraded{dependency="redis"}`` (1 while degraded) and the
  counter ``idp_outages_total{dependency="redis"}``; ``/readyz`` says ``"redis": "degraded"``
  and stays 200, so a balancer keeps the node in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from flask import Flask, current_app
from prometheus_client import Counter, Gauge
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

T = TypeVar("T")

# Labelled, so that no value (and, in multiprocess mode, no file) exists in a process that only
# imported this module, such as a server's parent process.
DEGRADED = Gauge("idp_degraded", "1 while this process cannot use the dependency and runs on its "
                 "fallbacks (redis: database lockout counters, stricter per-process rate limits).",
                 ["dependency"], multiprocess_mode="livemax")
OUTAGES = Counter("idp_outages_total", "Outages of a dependency seen by this process (one per outage, "
                  "however many requests it lasted).", ["dependency"])

#: Errors that mean Redis is away or too slow (a refused or reset connection, a timeout).
REDIS_ERRORS = (redis.RedisError, OSError)


def client_options(timeout_seconds: float) -> dict:
    """redis-py options for every client idp makes: a bounded wait, no retry loop (redis-py 6
    retries three times by default, which would multiply the bound), no keep-alive ping."""
    return {"socket_timeout": timeout_seconds, "socket_connect_timeout": timeout_seconds,
            "retry": Retry(NoBackoff(), 0), "retry_on_timeout": False, "health_check_interval": 0}


class RedisGuard:
    """One process's view of one Redis: a client with bounded timeouts and the outage state."""

    def __init__(self, url: str, *, timeout_seconds: float, retry_seconds: float) -> None:
        self.client = redis.Redis.from_url(url, **client_options(timeout_seconds))
        self.retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    def available(self) -> bool:
        """Worth asking Redis now: it is up, or the pause after its last failure is over."""
        return self._down_since is None or time.monotonic() >= self._next_try

    def call(self, operation: Callable[[redis.Redis], T]) -> T:
        """Run ``operation`` on the client, recording the outcome; re-raises Redis errors."""
        try:
            result = operation(self.client)
        except REDIS_ERRORS as exc:
            self.failed(exc)
            raise
        self.succeeded()
        return result

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._next_try = time.monotonic() + self.retry_seconds
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        OUTAGES.labels(dependency="redis").inc()
        DEGRADED.labels(dependency="redis").set(1)
        # The exception's class only: its text can carry the URL (and a password in it).
        log.warning("redis unavailable (%s): lockout counters in the database, rate limits per "
                    "process (IDP_LOGIN_RATE_LIMIT_FALLBACK) until it answers again",
                    type(exc).__name__)

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            lasted = time.monotonic() - self._down_since
            self._down_since = None
        DEGRADED.labels(dependency="redis").set(0)
        # WARNING as the outage's line is: the pair brackets the outage in the log.
        log.warning("redis available again after %.1f s: counters back in redis", lasted)

    def probe(self) -> str:
        """The readiness view: ``ok`` or ``degraded`` (never a reason to take the node out)."""
        if not self.available():
            return "degraded"
        try:
            self.call(lambda client: client.ping())
        except REDIS_ERRORS:
            return "degraded"
        return "ok"


def init_app(app: Flask) -> None:
    settings = app.config["IDP"]
    if settings.redis_url:
        app.extensions["idp.redis_guard"] = RedisGuard(
            settings.redis_url, timeout_seconds=settings.redis_timeout_ms / 1000,
            retry_seconds=settings.redis_retry_seconds)


def guard() -> RedisGuard | None:
    """The app's guard, or None when IDP_REDIS_URL is not set (counters in process)."""
    return current_app.extensions.get("idp.redis_guard")
