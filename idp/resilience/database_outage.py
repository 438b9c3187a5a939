"""While PostgreSQL is unreachable (a restart, a fail-over): ``503 Service Unavailable`` with
``Retry-After``, never a 500 with a traceback.

The database is the source of truth, so without it nothing can be answered correctly; what can
be done is to fail cleanly and briefly (RFC 9110 §15.6.4: 503 with ``Retry-After``). Browsers
get the readable error page, API callers OAuth-style JSON (``temporarily_unavailable``, the
code RFC 6749 §4.1.2.1 defines for this case). The request's transaction is rolled back, so
nothing is half written: a code is committed with its session, a token with its audit event,
a refresh rotation with its family, or none of them is.

The pool recovers by itself: idp.db.pool pings connections that sat idle and replaces those the
restart broke, and a connection that fails mid-request is invalidated with its pool, so the first
request after the database is back opens fresh ones. No restart of idp.

One WARNING log line per outage and process (not one per request), and the counter
``idp_unavailable_answers_total{dependency="database"}`` (requests answered 503 for it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

from idp.db import db

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait: a PostgreSQL restart or a fail-over to a standby
#: typically takes a few seconds.
RETRY_AFTER = 5
#: A new log line only if the database has answered since, or after this long.
_LOG_EVERY = 60.0

UNAVAILABLE = Counter("idp_unavailable_answers_total",
                      "Requests answered 503 because a dependency they need (the database) was away.",
                      ["dependency"])

_ERROR = "temporarily_unavailable"
_DESCRIPTION = "The service is briefly unavailable; try again in a few seconds."


class _OutageLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0.0

    def seen(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < _LOG_EVERY:
                return
            self._last = now
        # The driver's class only: its message can name hosts and users.
        orig = getattr(exc, "orig", None) or exc
        log.warning("database unavailable (%s): answering 503 with Retry-After %d",
                    type(orig).__name__, RETRY_AFTER)


_outage_log = _OutageLog()


def is_database_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached now (not a bug in a query):
    the connection failed or broke, the pool had none to give, SQLite's file is locked."""
    if isinstance(exc, sa_exc.TimeoutError):  # no connection free in the pool in time
        return True
    if _is_psycopg_connection_error(exc):  # raised unwrapped by idp.db.direct's connections
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    orig = exc.orig
    module = type(orig).__module__
    if module.startswith("psycopg") and isinstance(exc, sa_exc.OperationalError):
        return True  # connection refused or reset, server shutting down, fail-over in progress
    return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(orig)


def _is_psycopg_connection_error(exc: BaseException) -> bool:
    """psycopg's own OperationalError or InterfaceError (the connection failed, broke or was
    closed), as a DB-API connection used without SQLAlchemy's wrapping raises it."""
    if not type(exc).__module__.startswith("psycopg"):
        return False
    import psycopg  # only ever reached when psycopg raised, so it is installed

    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def _recorded(exc: BaseException) -> None:
    UNAVAILABLE.labels(dependency="database").inc()
    _outage_log.seen(exc)
    # The connection may be gone; the session is discarded at teardown anyway.
    with contextlib.suppress(sa_exc.SQLAlchemyError):
        db.session.rollback()


def _wants_page() -> bool:
    """A browser (it asks for HTML above all else); every other caller (a relying party's
    back-end calling /token, /userinfo, /api/..., which may send no Accept at all) gets JSON."""
    accept = request.accept_mimetypes
    return not request.path.startswith("/api/") and accept.quality("text/html") > accept.quality(
        "application/json")


def unavailable_response(exc: BaseException):
    """The Flask answer: the readable page or the JSON error, 503 with Retry-After."""
    _recorded(exc)
    if not _wants_page():
        response = jsonify(error=_ERROR, error_description=_DESCRIPTION)
    else:
        response = Flask.response_class(render_template(
            "error.html", code=503, title=gettext("Service Unavailable"),
            message=gettext("The service is briefly unavailable. Please try again in a few seconds.")),
            mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response


def unavailable_wsgi(exc: BaseException, start_response, headers=()) -> list[bytes]:
    """The same JSON answer for the paths answered before Flask (:mod:`idp.fastpath`), with the
    caller's ``headers`` (the security headers every answer carries)."""
    UNAVAILABLE.labels(dependency="database").inc()
    _outage_log.seen(exc)
    body = json.dumps({"error": _ERROR, "error_description": _DESCRIPTION}).encode()
    start_response("503 Service Unavailable", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Retry-After", str(RETRY_AFTER)), ("Cache-Control", "no-store"), *headers])
    return [body]
