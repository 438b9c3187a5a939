"""Per-IP limits on the forms that check secrets (Flask-Limiter).

Each app gets its own :class:`Limiter`, held in ``app.extensions["idp.limiter"]``: storage in
Redis under ``IDP_REDIS_PREFIX`` when ``IDP_REDIS_URL`` is set (every node counts together),
else in the process (:mod:`idp.auth.ratelimit_memory`). Only POST is limited: reading a form
costs nothing.

While Redis is unreachable (:mod:`idp.resilience.redis_guard`), Flask-Limiter's in-memory
fallback counts per process under the stricter ``IDP_LOGIN_RATE_LIMIT_FALLBACK`` (one counter
per address across all these forms), and goes back to Redis by itself when it answers.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable

from flask import Flask, current_app, make_response, request
from flask_babel import gettext
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from idp.auth.ratelimit_memory import SweptMemoryStorage
from idp.resilience.redis_guard import client_options
from idp.web import _http_error


def _message() -> str:
    return gettext("Too many attempts from your network. Wait a few minutes and try again.")


def init_app(app: Flask) -> None:
    settings = app.config["IDP"]
    if settings.redis_url:
        app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
        app.config["RATELIMIT_IN_MEMORY_FALLBACK"] = settings.login_rate_limit_fallback
    limiter = Limiter(
        key_func=get_remote_address,
        storage_uri=settings.redis_url or f"{SweptMemoryStorage.STORAGE_SCHEME[0]}://",
        storage_options=client_options(settings.redis_timeout_ms / 1000) if settings.redis_url else {},
        key_prefix=settings.redis_prefix + "ratelimit",
        strategy="moving-window",
        # Flask-Limiter would add Retry-After to every response of a limited page; we add it
        # only where it means something, on the 429 (RFC 6585 section 4).
        headers_enabled=False,
    )
    limiter.init_app(app)
    _skip_app_wide_check(app, limiter)
    app.extensions["idp.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


def _skip_app_wide_check(app: Flask, limiter: Limiter) -> None:
    """Drop Flask-Limiter's hook that runs before *every* request.

    That hook enforces default, application-wide and meta limits; idp sets none of them (the
    limiter above is built without, and the ``RATELIMIT_*`` settings that would add them are
    refused here), so all it did was spend a fifth of a millisecond on each request, five
    times per sign-in. The limits idp has are on views (:func:`limit_posts`), and their
    decorators check them; the after-request and teardown hooks stay.
    """
    for name in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META"):
        if app.config.get(name):
            raise RuntimeError(f"{name} is not supported: idp limits only the forms that check secrets")
    app.before_request_funcs[None].remove(limiter._check_request_limit)


def _too_many_requests(exc: RateLimitExceeded):
    """The readable 429 page (or JSON) of :mod:`idp.web`, with ``Retry-After``."""
    response = make_response(_http_error(exc))
    current = current_app.extensions["idp.limiter"].current_limit
    retry_after = int(current.reset_at - time.time()) if current else 60
    response.headers["Retry-After"] = str(max(1, retry_after))
    return response


def limit_posts(app: Flask, endpoints: Iterable[str], setting: str = "login_rate_limit") -> None:
    """Apply ``IDP_LOGIN_RATE_LIMIT`` (or the limit named by ``setting``) per client IP to POSTs
    of these endpoints.

    Other methods go straight to the view: Flask-Limiter's decorator would otherwise resolve
    and filter its limits on every GET of the form only to find none applies (a third of a
    millisecond per sign-in page)."""
    limiter: Limiter = app.extensions["idp.limiter"]
    for endpoint in endpoints:
        view = app.view_functions[endpoint]
        limited = limiter.limit(
            lambda: getattr(current_app.config["IDP"], setting), methods=["POST"],
            error_message=_message, scope=endpoint)(view)
        app.view_functions[endpoint] = _posts_through(limited, view)


def _posts_through(limited: Callable, view: Callable) -> Callable:
    @functools.wraps(view)
    def dispatch(*args, **kwargs):
        return limited(*args, **kwargs) if request.method == "POST" else view(*args, **kwargs)
    return dispatch
