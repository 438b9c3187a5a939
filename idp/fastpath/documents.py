"""The public documents relying parties poll, answered from memory: discovery (OIDC Discovery
1.0 §4, RFC 8414 §3) and the JWK Set (RFC 7517 §5).

They are the same bytes for everyone, so building a Flask request, running the hooks and
serialising JSON for each one is pure overhead: measured on one core, the Flask route answers
about 5,000 requests/s under granian and this path about 20,000 (README, "Running in
production"). Each document is kept as prebuilt bytes with its strong ETag and
GET and HEAD are answered here, with ``304 Not Modified`` to a matching ``If-None-Match``
(RFC 9110 §13.1.2). Anything else goes to Flask unchanged.

Freshness: discovery depends only on the settings, built once. The JWK Set is the database's
(every node reads the same rows); it is re-read at most every :data:`JWKS_REFRESH` seconds, so a
key added or withdrawn on one node is published by every node within that bound plus the key
cache's own (:data:`idp.keys.service.CACHE_SECONDS`). The rebuild is
done by the request that finds the copy stale, under a lock; others keep serving the previous
copy meanwhile.

Requests answered here are counted in ``/metrics`` like any other (endpoint names as Flask's).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask

from idp.metrics import EndpointMetrics
from idp.web import SECURITY_HEADERS

#: Seconds between checks of the key cache (itself re-read every CACHE_SECONDS): a node
#: publishes a changed JWK Set within JWKS_REFRESH + CACHE_SECONDS.
JWKS_REFRESH = 1.0

DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
JWKS_PATH = "/.well-known/jwks.json"


class _Document:
    """One prebuilt answer: body bytes, header lists for 200 and 304, and when it was built."""

    def __init__(self, endpoint: str, build: Callable[[], tuple[bytes, str]], content_type: str,
                 max_age: int, refresh: float | None, invalidated: Callable[[], bool] = lambda: False):
        self.endpoint = endpoint
        self._build = build
        self._content_type = content_type
        self._max_age = max_age
        self._refresh = refresh
        self._invalidated = invalidated
        self._lock = threading.Lock()
        self.built_at = -1.0
        self.body = b""
        self.etag = ""
        self.headers_200: list[tuple[str, str]] = []
        self.headers_304: list[tuple[str, str]] = []
        self.metrics = EndpointMetrics(endpoint)

    def fresh(self) -> _Document:
        now = time.monotonic()
        if self.built_at < 0 or self._invalidated():
            with self._lock:  # nothing to serve, or a rotation on this node: wait for the new copy
                self._rebuild()
        elif (self._refresh is not None and now - self.built_at >= self._refresh
              and self._lock.acquire(blocking=False)):  # others keep serving the current copy
            try:
                self._rebuild()
            finally:
                self._lock.release()
        return self

    def _rebuild(self) -> None:
        body, etag = self._build()
        if etag != self.etag:
            quoted = f'"{etag}"'
            common = [("ETag", quoted), ("Cache-Control", f"public, max-age={self._max_age}"),
                      ("Access-Control-Allow-Origin", "*"), *SECURITY_HEADERS]
            self.headers_200 = [("Content-Type", self._content_type),
                                ("Content-Length", str(len(body))), *common]
            self.headers_304 = common
            self.body, self.etag = body, quoted
        self.built_at = time.monotonic()

def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison of each listed tag, or ``*``."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class PublicDocuments:
    """The public documents, answered from memory (see the module docstring)."""

    def __init__(self, app: Flask):
        from idp.keys import views as key_views
        from idp.oidc import discovery

        def build_discovery() -> tuple[bytes, str]:
            with app.app_context():
                body, etag = discovery.document()
            return json.dumps(body).encode(), etag

        def build_jwks() -> tuple[bytes, str]:
            from idp.db import db
            from idp.keys import service

            with app.app_context():
                try:
                    body, etag = service.jwks()
                finally:
                    db.session.remove()
            return json.dumps(body, sort_keys=True).encode(), etag

        openid = _Document("oidc.openid_configuration", build_discovery, "application/json",
                           discovery.MAX_AGE, None)
        oauth = _Document("oidc.oauth_authorization_server", build_discovery, "application/json",
                          discovery.MAX_AGE, None)

        def keys_invalidated() -> bool:
            cache = app.extensions.get("idp.keys")
            return cache is not None and cache.loaded_at == 0.0

        jwks = _Document("keys.jwks", build_jwks, "application/jwk-set+json", key_views.MAX_AGE,
                         JWKS_REFRESH, keys_invalidated)
        self.documents = {DISCOVERY_PATHS[0]: openid, DISCOVERY_PATHS[1]: oauth, JWKS_PATH: jwks}

    def answer(self, environ: dict, start_response) -> Iterable[bytes] | None:
        """The answer to a GET or HEAD of one of the documents, or None to let Flask answer."""
        document = self.documents.get(environ.get("PATH_INFO", ""))
        if document is None:
            return None
        method = environ["REQUEST_METHOD"]
        started = time.perf_counter()
        try:
            document.fresh()
        except Exception:  # the database is down: let Flask answer (and log) as it would
            return None
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and _matches(if_none_match, document.etag):
            start_response("304 Not Modified", list(document.headers_304))
            document.metrics.observe(method, "304", started)
            return [b""]
        start_response("200 OK", list(document.headers_200))
        document.metrics.observe(method, "200", started)
        return [b""] if method == "HEAD" else [document.body]
