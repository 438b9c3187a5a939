"""The public documents relying parties poll, built once and served by both paths:
discovery (OIDC Discovery 1.0 §4, RFC 8414 §3) and the JWK Set (RFC 7517 §5).

One :class:`PublicDocuments` per app (``app.extensions["idp.public_documents"]``) holds each
document as prebuilt bytes with its strong ETag and its header lists for 200 and 304 (content
type, ``Cache-Control``, CORS, :data:`idp.web.SECURITY_HEADERS`). The Flask views
(:mod:`idp.oidc.discovery`, :mod:`idp.keys.views`) answer with :meth:`PublicDocuments.flask_response`
and the answer given before Flask (:mod:`idp.fastpath`) with :meth:`PublicDocuments.answer`:
the same bytes, headers and ``If-None-Match`` rule (:func:`matches`, the weak comparison of
RFC 9110 §13.1.2), so the two cannot drift. The fast path costs less because it skips building
a Flask request: measured on one core, the Flask route answers about 5,000 requests/s under
granian and this path about 20,000 (README, "Running in production").

Freshness: discovery depends only on the settings, built once. The JWK Set is the database's
(every node reads the same rows); it is re-read at most every :data:`JWKS_REFRESH` seconds, so a
key added or withdrawn on one node is published by every node within that bound plus the key
cache's own (:data:`idp.keys.service.CACHE_SECONDS`). The rebuild is
done by the request that finds the copy stale, under a lock; others keep serving the previous
copy meanwhile.

Requests answered before Flask are counted in ``/metrics`` like any other (endpoint names as
Flask's); paths are the URL map's for those endpoints.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask, Response, current_app, request

from idp.metrics import EndpointMetrics
from idp.web import SECURITY_HEADERS

#: Seconds between checks of the key cache (itself re-read every CACHE_SECONDS): a node
#: publishes a changed JWK Set within JWKS_REFRESH + CACHE_SECONDS.
JWKS_REFRESH = 1.0

EXTENSION = "idp.public_documents"


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: ``If-None-Match`` uses the weak comparison: any listed tag equal to
    ``etag`` once a ``W/`` prefix is dropped, or ``*``."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class _Document:
    """One prebuilt answer: body bytes, header lists for 200 and 304, and when it was built."""

    def __init__(self, endpoint: str, build: Callable[[], tuple[bytes, str]], content_type: str,
                 max_age: int, refresh: float | None, invalidated: Callable[[], bool] = lambda: False):
        self.endpoint = endpoint
        self._build = build
        self.content_type = content_type
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
            self.headers_200 = [("Content-Type", self.content_type),
                                ("Content-Length", str(len(body))), *common]
            self.headers_304 = common
            self.body, self.etag = body, quoted
        self.built_at = time.monotonic()

    def answer(self, method: str, if_none_match: str | None) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status line, headers and body for a GET or HEAD (304 to a matching tag)."""
        self.fresh()
        if matches(if_none_match, self.etag):
            return "304 Not Modified", list(self.headers_304), b""
        return "200 OK", list(self.headers_200), b"" if method == "HEAD" else self.body


def endpoint_of(app: Flask, view: Callable) -> str:
    """The endpoint name under which ``view`` is registered on ``app``."""
    (name,) = [name for name, registered in app.view_functions.items() if registered is view]
    return name


def discovery_bytes(document: dict) -> tuple[bytes, str]:
    """The discovery document's bytes (in the order :func:`idp.oidc.discovery.metadata` lists
    the fields) and their strong ETag."""
    body = json.dumps(document).encode()
    return body, hashlib.sha256(body).hexdigest()[:32]


class PublicDocuments:
    """The public documents of one app (see the module docstring)."""

    def __init__(self, app: Flask):
        from idp.keys import views as key_views
        from idp.oidc import discovery

        def build_discovery() -> tuple[bytes, str]:
            with app.app_context():
                return discovery_bytes(discovery.metadata())

        def build_jwks() -> tuple[bytes, str]:
            from idp.db import db
            from idp.keys import service

            with app.app_context():
                try:
                    body, etag = service.jwks()
                finally:
                    db.session.remove()
            return json.dumps(body, sort_keys=True).encode(), etag

        def keys_invalidated() -> bool:
            cache = app.extensions.get("idp.keys")
            return cache is not None and cache.loaded_at == 0.0

        discovery_body: list[tuple[bytes, str]] = []

        def build_discovery_once() -> tuple[bytes, str]:
            if not discovery_body:
                discovery_body.append(build_discovery())
            return discovery_body[0]

        self.by_endpoint = {
            endpoint: _Document(endpoint, build_discovery_once, "application/json",
                                discovery.MAX_AGE, None)
            for endpoint in (endpoint_of(app, discovery.openid_configuration),
                             endpoint_of(app, discovery.oauth_authorization_server))}
        jwks = endpoint_of(app, key_views.jwks)
        self.by_endpoint[jwks] = _Document(jwks, build_jwks, "application/jwk-set+json",
                                           key_views.MAX_AGE, JWKS_REFRESH, keys_invalidated)
        self.by_path = {rule.rule: self.by_endpoint[rule.endpoint]
                        for rule in app.url_map.iter_rules() if rule.endpoint in self.by_endpoint}

    def answer(self, environ: dict, start_response) -> Iterable[bytes] | None:
        """Before Flask: the answer to a GET or HEAD of one of the documents, or None to let
        Flask answer."""
        document = self.by_path.get(environ.get("PATH_INFO", ""))
        if document is None:
            return None
        method = environ["REQUEST_METHOD"]
        started = time.perf_counter()
        try:
            status, headers, body = document.answer(method, environ.get("HTTP_IF_NONE_MATCH"))
        except Exception:  # the database is down: let Flask answer (and log) as it would
            return None
        start_response(status, headers)
        document.metrics.observe(method, status[:3], started)
        return [body]

    @staticmethod
    def flask_response() -> Response:
        """The Flask view's answer for the document of ``request.endpoint``."""
        document = current_app.extensions[EXTENSION].by_endpoint[request.endpoint]
        # HEAD: Werkzeug drops the body itself and keeps the GET's Content-Length.
        status, headers, body = document.answer("GET", request.headers.get("If-None-Match"))
        # The content type even on a 304, which Werkzeug then leaves out (RFC 9110 §15.4.5): not
        # taken for an HTML page by the hooks that add a page's headers.
        return Response(body, status=status, headers=headers, content_type=document.content_type)


def init_app(app: Flask) -> PublicDocuments:
    documents = app.extensions[EXTENSION] = PublicDocuments(app)
    return documents
