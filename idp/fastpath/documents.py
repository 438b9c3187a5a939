"""The public documents relying parties poll, built once and served by both paths:
discovery (OIDC Discovery 1.0 §4, RFC 8414 §3) and the JWK Set (RFC 7517 §5).

One :class:`PublicDocuments` per app (``app.extensions["idp.public_documents"]``) holds each
document as an :class:`idp.public_documents.Document`: prebuilt bytes with its strong ETag and
its header lists for 200 and 304. The Flask views (:mod:`idp.oidc.views.discovery`,
:mod:`idp.keys.views`) answer with :func:`idp.public_documents.flask_response` and the answer
given before Flask (:mod:`idp.fastpath`) with :meth:`PublicDocuments.answer`: the same bytes,
headers and ``If-None-Match`` rule, so the two cannot drift. The fast path costs less because
it skips building a Flask request: measured on one core, the Flask route answers about 5,000
requests/s under granian and this path about 20,000 (README, "Running in production").

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

import json
import time
from collections.abc import Iterable

from flask import Flask

from idp.db import db
from idp.keys import service
from idp.keys import views as key_views
from idp.oidc import discovery
from idp.oidc.views import discovery as discovery_views
from idp.public_documents import EXTENSION, Document, discovery_bytes, endpoint_of

#: Seconds between checks of the key cache (itself re-read every CACHE_SECONDS): a node
#: publishes a changed JWK Set within JWKS_REFRESH + CACHE_SECONDS.
JWKS_REFRESH = 1.0


class PublicDocuments:
    """The public documents of one app (see the module docstring)."""

    def __init__(self, app: Flask):
        def build_discovery() -> tuple[bytes, str]:
            with app.app_context():
                return discovery_bytes(discovery.metadata())

        def build_jwks() -> tuple[bytes, str]:
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
            endpoint: Document(endpoint, build_discovery_once, "application/json",
                               discovery.MAX_AGE, None)
            for endpoint in (endpoint_of(app, discovery_views.openid_configuration),
                             endpoint_of(app, discovery_views.oauth_authorization_server))}
        jwks = endpoint_of(app, key_views.jwks)
        self.by_endpoint[jwks] = Document(jwks, build_jwks, "application/jwk-set+json",
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


def init_app(app: Flask) -> PublicDocuments:
    documents = app.extensions[EXTENSION] = PublicDocuments(app)
    return documents
