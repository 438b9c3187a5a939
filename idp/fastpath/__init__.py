"""Answers given before Flask, for the requests relying parties and agency back-ends send by
the thousand: the public documents (discovery, JWKS), client_credentials tokens, the
redemption of authorization codes and the introspection of active access tokens.

One WSGI middleware, installed last (inside ProxyFix, so addresses are already resolved) unless
``IDP_FAST_PATH=off``, which then serves everything through Flask. Each answer it gives is made
by the functions that make the Flask answer, so the two paths give the same status, headers and
bytes (``tests/test_fast_path_parity.py`` compares them):
- GET and HEAD of the documents: :mod:`idp.fastpath.documents`, prebuilt bytes and headers
  that the Flask views serve too.
- POST ``/token`` and ``/introspect``: :mod:`idp.fastpath.client_credentials`,
  :mod:`idp.fastpath.authorization_code` and :mod:`idp.fastpath.introspection`. They answer
  only a request they fully understand and that succeeds, with the Flask path's own rules,
  generator and audit event; for anything else they return None and the request (its body
  put back) goes to Flask, which answers exactly as before. So every error, and every less
  common case, has one implementation: Flask's.

Paths are the URL map's for the Flask endpoints answered here. The process's background threads
are started by :mod:`idp.process_threads`, whether this middleware is installed or not.

Why: under granian on one core a bare Flask route with this app's hooks costs ~0.6 ms, more
than the whole budget of the issue's targets (1,300 tokens/s, 4,000 introspections/s per
core); the README ("Running in production") has the figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from flask import Flask

from idp.fastpath import documents
from idp.fastpath.answer import JsonAnswer
from idp.fastpath.authorization_code import AuthorizationCodeToken
from idp.fastpath.client_credentials import ClientCredentialsToken
from idp.fastpath.documents import JWKS_REFRESH
from idp.fastpath.form import read_form
from idp.fastpath.introspection import Introspection
from idp.public_documents import EXTENSION, endpoint_of
from idp.resilience.database_outage import is_database_outage, unavailable_wsgi
from idp.web import SECURITY_HEADERS

log = logging.getLogger(__name__)

__all__ = ["JWKS_REFRESH", "FastPath", "init_app"]


class DatabaseOutage(Exception):
    """The database is unreachable: 503 at once (idp.resilience.database_outage)."""


class FastPath:
    def __init__(self, app: Flask, wsgi_app) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.documents = app.extensions[EXTENSION]
        handlers: dict[str, tuple] = {}
        for handler in (ClientCredentialsToken(app), AuthorizationCodeToken(app), Introspection(app)):
            endpoint = endpoint_of(app, handler.view)
            handlers[endpoint] = (*handlers.get(endpoint, ()), handler)
        self.posts = {rule.rule: (handlers[rule.endpoint], JsonAnswer(app, rule.endpoint))
                      for rule in app.url_map.iter_rules()
                      if rule.endpoint in handlers and "POST" in (rule.methods or ())}

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            answer = self.documents.answer(environ, start_response)
            if answer is not None:
                return answer
        elif method == "POST":
            post = self.posts.get(environ.get("PATH_INFO", ""))
            # A DPoP proof (RFC 9449) is checked by Flask's path only (idp.oidc.tokens.dpop).
            if post is not None and "HTTP_DPOP" not in environ:
                started = time.perf_counter()
                try:
                    body = self._answer(post[0], environ)
                except DatabaseOutage as outage:  # Flask would only wait on the database again
                    return unavailable_wsgi(outage.__cause__, start_response, SECURITY_HEADERS)
                if body is not None:
                    return post[1](start_response, body, started)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _answer(handlers: tuple, environ: dict) -> dict | None:
        """The first answer of ``handlers`` (each declines at once a grant not its own)."""
        try:
            form = read_form(environ)
            if form is None:
                return None
            for handler in handlers:
                body = handler.answer(environ, form)
                if body is not None:
                    return body
            return None
        except Exception as exc:  # Flask answers (and logs) anything else as it would
            if is_database_outage(exc):
                raise DatabaseOutage from exc
            log.warning("%s answered by Flask after an error before it", environ.get("PATH_INFO"),
                        exc_info=True)
            return None


def init_app(app: Flask) -> None:
    documents.init_app(app)  # the Flask views serve the prebuilt documents too
    if app.config["IDP"].fast_path:
        app.wsgi_app = FastPath(app, app.wsgi_app)
