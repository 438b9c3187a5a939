"""Cross-origin reads of an endpoint a browser-based client calls with a token in the
``Authorization`` header (the Fetch Standard's CORS protocol, https://fetch.spec.whatwg.org/#http-cors-protocol).

Such a request carries no cookie, so any origin may read the answer (``*``): the token is the
credential. Every answer gets the headers, the refusals too: a client that cannot read a 401's
``WWW-Authenticate`` (RFC 6750 §3) or its ``DPoP-Nonce`` (RFC 9449 §8, §9) cannot react to it.
A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered here, before the
view and without a token, with the methods and request headers the endpoint takes.
"""

from __future__ import annotations

import functools

from flask import current_app, request

#: How long a browser may keep a preflight's answer (seconds; browsers cap it, Chromium at 2 h).
PREFLIGHT_MAX_AGE = 600


def cross_origin(*, methods: tuple[str, ...], allow_headers: tuple[str, ...],
                 expose_headers: tuple[str, ...]):
    """Decorator, outside the one that checks the token, for a route that lists ``OPTIONS``."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if request.method == "OPTIONS":
                response = current_app.response_class(status=204)
                del response.headers["Content-Type"]  # no body
                response.headers["Allow"] = ", ".join((*methods, "OPTIONS"))
                response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
                response.headers["Access-Control-Allow-Headers"] = ", ".join(allow_headers)
                response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
            else:
                response = current_app.make_response(view(*args, **kwargs))
                response.headers["Access-Control-Expose-Headers"] = ", ".join(expose_headers)
            response.headers["Access-Control-Allow-Origin"] = "*"
            return response
        return wrapper
    return decorator


__all__ = ["cross_origin"]
