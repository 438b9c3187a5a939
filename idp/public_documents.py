"""The public documents relying parties poll, built once per app and served by both paths:
discovery (OIDC Discovery 1.0 §4, RFC 8414 §3) and the JWK Set (RFC 7517 §5).

Each document is a :class:`Document`: prebuilt bytes with their strong ETag and the header
lists for 200 and 304 (content type, ``Cache-Control``, CORS, :data:`idp.web.SECURITY_HEADERS`).
The app's documents are built by :mod:`idp.fastpath.documents` and kept in
``app.extensions[EXTENSION]``; the Flask views (:mod:`idp.oidc.views.discovery`,
:mod:`idp.keys.views`) answer with :func:`flask_response` and the answer given before Flask with
the same :meth:`Document.answer`: the same bytes, headers and ``If-None-Match`` rule
(:func:`matches`, the weak comparison of RFC 9110 §13.1.2), so the two cannot drift.

Here, below the packages whose views serve the documents, so that neither they nor the fast
path that builds them import each other.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request

from idp.metrics import EndpointMetrics
from idp.web import SECURITY_HEADERS

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


class Document:
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

    def fresh(self) -> Document:
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


def flask_response() -> Response:
    """The Flask view's answer for the document of ``request.endpoint``."""
    document = current_app.extensions[EXTENSION].by_endpoint[request.endpoint]
    # HEAD: Werkzeug drops the body itself and keeps the GET's Content-Length.
    status, headers, body = document.answer("GET", request.headers.get("If-None-Match"))
    # The content type even on a 304, which Werkzeug then leaves out (RFC 9110 §15.4.5): not
    # taken for an HTML page by the hooks that add a page's headers.
    return Response(body, status=status, headers=headers, content_type=document.content_type)
