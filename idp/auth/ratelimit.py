"""Per-IP limits on the forms that check secrets (Flask-Limiter).

Each app gets its own :class:`Limiter`, held in ``app.extensions["idp.limiter"]``: storage in
Redis under ``IDP_REDIS_PREFIX`` when ``IDP_REDIS_URL`` is set (every node counts together),
else in the process. Only POST is limited: reading a form costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, current_app
from flask_babel import gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def _message() -> str:
    return gettext("Too many attempts from your network. Wait a few minutes and try again.")


def init_app(app: Flask) -> None:
    settings = app.config["IDP"]
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=settings.redis_url or "memory://",
        key_prefix=settings.redis_prefix + "ratelimit",
        strategy="moving-window",
        headers_enabled=True,
        retry_after="delta-seconds",
    )
    limiter.init_app(app)
    app.extensions["idp.limiter"] = limiter


def limit_posts(app: Flask, endpoints: Iterable[str]) -> None:
    """Apply ``IDP_LOGIN_RATE_LIMIT`` per client IP to POSTs of these endpoints."""
    limiter: Limiter = app.extensions["idp.limiter"]
    for endpoint in endpoints:
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(
            lambda: current_app.config["IDP"].login_rate_limit, methods=["POST"],
            error_message=_message, scope=endpoint)(view)
