"""Prometheus metrics (prometheus-client), served at ``/metrics`` to allowed scrapers only.

Other packages import the counters and increment them where the event happens::

    from idp.metrics import count_signin, count_token
    count_signin("password", "success")           # idp_signins_total{method,outcome}
    count_token("authorization_code")              # idp_tokens_issued_total{grant_type}

Every request is counted by endpoint, method and status, and timed by endpoint. Labels are
endpoint *names*, never paths, so an attacker probing random URLs cannot grow the series.

Under granian (the container image) or gunicorn each worker is a process with its own
counters. With the environment variable ``PROMETHEUS_MULTIPROC_DIR`` set (to an empty folder
used for nothing else, before the server starts: prometheus-client reads it at import), every
worker writes its values to files there and ``/metrics`` sums them, whichever worker answers;
the image's start command empties the folder first (``gunicorn.conf.py`` does the same, and
tidies after a worker exits). Without it, values are per process (right for
``idp serve --workers 1``).

Access (IDP_METRICS_ALLOW, IDP_METRICS_TOKEN): the client address must be in an allowed network
(default loopback only) or the answer is 403; with a token configured, a missing or wrong bearer
token is 401 (RFC 6750 section 3). Both answers are JSON.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import os
import re
import time
from typing import Any

import prometheus_client
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder

# ``*_created`` series double the output and say nothing an operator needs.
prometheus_client.disable_created_metrics()

#: From 1 ms (JWKS, discovery) to 10 s (a sign-in stuck on a slow database).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("idp_http_requests_total", "HTTP requests answered, by endpoint, method and status.",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("idp_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                    ["endpoint"], buckets=LATENCY_BUCKETS)
SIGNINS = Counter("idp_signins_total", "Sign-in attempts by method (password, totp, certificate...) "
                  "and outcome (success, failure, locked...).", ["method", "outcome"])
TOKENS_ISSUED = Counter("idp_tokens_issued_total", "Token responses issued by the token endpoint, "
                        "by grant type.", ["grant_type"])
CLIENT_CACHE = Counter("idp_client_cache_reads_total", "Client reads for client authentication: `hit` "
                       "from this process's client cache (IDP_CLIENT_CACHE), `miss` from the "
                       "database.", ["result"])


class _ClientCacheReads:
    """``CLIENT_CACHE``'s two series, made at first use: a labelled series made at import would
    give every process that imports this module (the admin command too) a file of its own
    under ``PROMETHEUS_MULTIPROC_DIR``."""

    @functools.cached_property
    def hit(self):
        return CLIENT_CACHE.labels(result="hit")

    @functools.cached_property
    def miss(self):
        return CLIENT_CACHE.labels(result="miss")


CLIENT_CACHE_READS = _ClientCacheReads()

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LABEL = re.compile(r"[a-z0-9_.:-]{1,64}")


def _label(value: str) -> str:
    """A label value from code or a request, bounded: anything unexpected counts as ``other``."""
    value = str(value).lower()
    return value if _LABEL.fullmatch(value) else "other"


# A token endpoint counts on every answer, and ``labels()`` (validation and a lock per call)
# costs as much as the rest of counting: each series is looked up once, at first use in the
# process that counts (see :class:`_ClientCacheReads`). Bounded, as the callers pass constants
# and a bug passing request data must not grow the cache without end.
@functools.lru_cache(maxsize=64)
def _signin_series(method: str, outcome: str):
    return SIGNINS.labels(method=_label(method), outcome=_label(outcome))


@functools.lru_cache(maxsize=64)
def _token_series(grant_type: str):
    return TOKENS_ISSUED.labels(grant_type=_label(grant_type))


def count_signin(method: str, outcome: str) -> None:
    """One sign-in attempt: ``method`` such as password, totp, certificate; ``outcome`` such as
    success, failure, locked."""
    _signin_series(method, outcome).inc()


def count_token(grant_type: str) -> None:
    """One successful token response for ``grant_type`` (RFC 6749 section 4 names)."""
    _token_series(grant_type).inc()


# -- request instrumentation ----------------------------------------------------------------------


class EndpointMetrics:
    """``REQUESTS`` and ``LATENCY`` for one endpoint answered before Flask (:mod:`idp.fastpath`),
    under the Flask endpoint's name. The labelled children are looked up once, at first use:
    in the worker process that answers, never in a parent that only built the app (a child
    made there would leave a file of its own in multiprocess mode)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._requests: dict[tuple[str, str], Any] = {}
        self._latency = None

    def observe(self, method: str, status: str, started: float) -> None:
        child = self._requests.get((method, status))
        if child is None:
            child = self._requests[(method, status)] = REQUESTS.labels(
                endpoint=self.endpoint, method=method, status=status)
        child.inc()
        if self._latency is None:
            self._latency = LATENCY.labels(endpoint=self.endpoint)
        self._latency.observe(time.perf_counter() - started)



def _start_timer() -> None:
    g.idp_request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    endpoint = request.endpoint or "unmatched"
    method = request.method if request.method in _METHODS else "other"
    REQUESTS.labels(endpoint=endpoint, method=method, status=str(response.status_code)).inc()
    started = g.pop("idp_request_started", None)
    if started is not None:
        LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)
    return response


# -- the endpoint ---------------------------------------------------------------------------------

bp = Blueprint("metrics", __name__)


def _refuse(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        # RFC 6750 section 3: no error code when the request carried no credentials at all.
        challenge = 'Bearer realm="metrics"'
        if error == "invalid_token":
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response


def _client_allowed() -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:  # a Unix socket has no address: nothing to match
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in current_app.config["IDP"].metrics_allow)


def _token_valid(token: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    # Compare digests: constant time whatever the lengths.
    return hmac.compare_digest(hashlib.sha256(presented.strip().encode()).digest(),
                               hashlib.sha256(token.encode()).digest())


def _exposition() -> tuple[bytes, str]:
    """The text format Prometheus asks for in Accept (0.0.4 by default, or OpenMetrics)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return encoder(registry), content_type


@bp.get("/metrics")
def metrics():
    """Prometheus text exposition, to allowed networks (403) holding the token if set (401)."""
    if not _client_allowed():
        return _refuse(403, "forbidden", "this address may not read metrics (IDP_METRICS_ALLOW)")
    token = current_app.config["IDP"].metrics_token
    if token:
        if not request.headers.get("Authorization"):
            return _refuse(401, "unauthorized", "a bearer token is required (IDP_METRICS_TOKEN)")
        if not _token_valid(token):
            return _refuse(401, "invalid_token", "the bearer token is not the metrics token")
    body, content_type = _exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    # Registered first among the components: the timer starts before any other hook runs,
    # and (after_request running in reverse) the observation is the last thing done.
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)


__all__ = ["LATENCY", "REQUESTS", "SIGNINS", "TOKENS_ISSUED", "count_signin", "count_token"]
