"""The application factory. It stays short: each package wires itself in ``init_app``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import process_threads, scheduling
from idp.config import ConfigError, install, load_settings, secret_key
from idp.db import db, import_models, migrate
from idp.db.pool import ping_idle_connections
from idp.web import transport_security

#: Packages that register blueprints, CLI groups and hooks, in this order.
COMPONENTS = (
    "idp.metrics",
    "idp.resilience.redis_guard",
    "idp.web",
    "idp.auth.sessions",
    "idp.audit",
    "idp.maintenance",
    "idp.notify",
    "idp.auth",
    "idp.accounts",
    "idp.orgs",
    "idp.keys",
    "idp.oidc",
    "idp.api",
    "idp.health",
    "idp.admin",
    "idp.fastpath",
)


class IdpFlask(Flask):
    """Flask, remembering which of its registered functions are plain ``def``.

    Flask passes every view, hook and teardown function through :meth:`ensure_sync` on every
    request, which asks :mod:`inspect` each time whether it is a coroutine function: a tenth
    of the Python work of a client_credentials answer (twelve functions), and forty-odd
    questions per sign-in. The functions are the ones registered at start-up, so the answer
    is kept; the few callers with a function of their own (none in idp) are asked afresh once
    the cache is full.
    """

    _SYNC_KEPT = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        try:
            synced = self._sync.get(func)
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)
        if synced is None:
            synced = super().ensure_sync(func)
            if len(self._sync) < self._SYNC_KEPT:
                self._sync[func] = synced
        return synced


def create_app(environ: Mapping[str, str] | None = None, *, check_database: bool = True) -> Flask:
    """Build the WSGI app from ``IDP_*`` settings (``environ`` defaults to ``os.environ``).

    Raises :class:`ConfigError` naming the variable when a setting is invalid or the database
    cannot be reached, so a node never starts half-configured.
    """
    settings = load_settings(environ)
    Path(settings.instance_dir).mkdir(parents=True, exist_ok=True)

    app = IdpFlask(__name__, instance_path=settings.instance_dir,
                template_folder="web/templates", static_folder="web/static")
    install(app, settings)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # Secure cookies get the __Host- prefix (Path=/, no Domain; RFC 6265bis §4.1.3.2).
        SESSION_COOKIE_NAME="__Host-session" if settings.secure_cookies else "session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    logging.getLogger("idp").setLevel(settings.log_level)

    import_models()
    db.init_app(app)
    if not settings.database_url.startswith("sqlite"):
        with app.app_context():
            ping_idle_connections(db.engine)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"))
    for name in COMPONENTS:
        importlib.import_module(name).init_app(app)
    # Outermost, so the answers given before Flask (idp.fastpath) see resolved addresses too.
    _trust_proxies(app, settings)
    transport_security.init_app(app, settings)
    if settings.argon2_slice_ms and scheduling.long_slices():  # idp.scheduling: a hash runs to its end
        process_threads.set_up_request_threads(app, scheduling.as_request_thread)
    # Outside everything else: every request starts the process's background threads, whichever
    # server runs the app and whether or not the fast path is on.
    process_threads.init_app(app)

    if check_database:
        _check_database(app)
    return app


def _trust_proxies(app: Flask, settings) -> None:
    """Honour ``X-Forwarded-*`` only from as many proxies as configured (IDP_PROXY_FIX_*).

    Not behind a proxy (the default), the headers are the client's own words and are ignored:
    believing them would let anyone choose the address the audit log and rate limits see.
    """
    hops = {name: getattr(settings, f"proxy_fix_{name}")
            for name in ("x_for", "x_proto", "x_host", "x_port", "x_prefix")}
    if any(hops.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)


def _engine_options(url: str) -> dict:
    # SQL parameters carry national numbers, names and emails: keep them out of every log
    # line and error message, whatever the log level.
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # No pool_pre_ping: idp.db.pool pings only the connections that sat idle in the pool.
    # pool_timeout bounds the wait for a free connection, so a request answers 503
    # (idp.resilience.database_outage) instead of queueing behind a stuck database.
    # Every connection is kept (no overflow): with more threads busy than pooled connections,
    # each connection beyond the pool would be opened for one request and closed after it (a
    # PostgreSQL backend started and ended per request). POOL_SIZE is above the default 16
    # threads of a worker (Dockerfile, scripts/bench).
    return {"pool_size": POOL_SIZE, "max_overflow": 0, "pool_timeout": 5, "hide_parameters": True,
            "connect_args": {"connect_timeout": 5}}


#: PostgreSQL connections a worker process keeps at most (the threads' requests; the direct
#: connections of idp.db.direct and the cache's listener are outside the pool).
POOL_SIZE = 20


def _check_database(app: Flask) -> None:
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise ConfigError("IDP_DATABASE_URL", f"cannot connect to the database: {reason}") from None
