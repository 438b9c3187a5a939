"""Answers given before Flask, for the requests relying parties and agency back-ends send by
the thousand: the public documents (discovery, JWKS), client_credentials tokens and the
introspection of active access tokens.

One WSGI middleware, installed last (inside ProxyFix, so addresses are already resolved),
which every request crosses; it also starts the process's background threads
(:mod:`idp.process_threads`):
- GET and HEAD of the documents: :mod:`idp.fastpath.documents`, prebuilt bytes.
- POST ``/token`` and ``/introspect``: :mod:`idp.fastpath.client_credentials` and
  :mod:`idp.fastpath.introspection`. They answer only a request they fully understand and that
  succeeds, with the Flask path's own rules, generator and audit event; for anything else they
  return None and the request (its body put back) goes to Flask, which answers exactly as
  before. So every error, and every less common case, has one implementation: Flask's.

Why: under granian on one core a bare Flask route with this app's hooks costs ~0.6 ms, more
than the whole budget of the issue's targets (1,300 tokens/s, 4,000 introspections/s per
core); the README ("Running in production") has the figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from flask import Flask

from idp.fastpath.answer import JsonAnswer
from idp.fastpath.client_credentials import ClientCredentialsToken
from idp.fastpath.documents import JWKS_REFRESH, PublicDocuments
from idp.fastpath.form import read_form
from idp.fastpath.introspection import Introspection
from idp.process_threads import start_all
from idp.resilience.database_outage import is_database_outage, unavailable_wsgi

log = logging.getLogger(__name__)

__all__ = ["JWKS_REFRESH", "FastPath", "init_app"]


class DatabaseOutage(Exception):
    """The database is unreachable: 503 at once (idp.resilience.database_outage)."""


class FastPath:
    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.documents = PublicDocuments(app)
        self.posts = {handler.path: (handler, JsonAnswer(handler.endpoint))
                      for handler in (ClientCredentialsToken(app), Introspection(app))}

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        # The outermost layer every request crosses, answered here or not: where a granian
        # worker starts its background threads (idp.process_threads).
        start_all(self.app)
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            answer = self.documents.answer(environ, start_response)
            if answer is not None:
                return answer
        elif method == "POST":
            post = self.posts.get(environ.get("PATH_INFO", ""))
            if post is not None:
                started = time.perf_counter()
                try:
                    body = self._answer(post[0], environ)
                except DatabaseOutage as outage:  # Flask would only wait on the database again
                    return unavailable_wsgi(outage.__cause__, start_response)
                if body is not None:
                    return post[1](start_response, body, started)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _answer(handler, environ: dict) -> dict | None:
        try:
            form = read_form(environ)
            return None if form is None else handler.answer(environ, form)
        except Exception as exc:  # Flask answers (and logs) anything else as it would
            if is_database_outage(exc):
                raise DatabaseOutage from exc
            log.warning("%s answered by Flask after an error before it", handler.path, exc_info=True)
            return None


def init_app(app: Flask) -> None:
    app.wsgi_app = FastPath(app, app.wsgi_app)
