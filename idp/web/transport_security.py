"""HTTP Strict Transport Security (RFC 6797) on every answer of an https deployment.

A citizen who once reached the provider over https is never again sent to it over plain http
(an SSL-stripping network cannot downgrade the sign-in page). Installed as the outermost WSGI
layer, so the answers given before Flask (:mod:`idp.fastpath`) carry the header too, with no
code of their own. With an http issuer (development on loopback) nothing is added: a browser
ignores the header over http, and a loopback port must stay usable over http.
"""

from __future__ import annotations

from collections.abc import Iterable

#: One year, subdomains included (RFC 6797 §6.1; the value browsers' preload lists expect).
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


class StrictTransportSecurity:
    """Adds :data:`HSTS` to every answer unless the inner application set its own."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        def with_hsts(status, headers, exc_info=None):
            if not any(name.lower() == "strict-transport-security" for name, _ in headers):
                headers = [*headers, HSTS]
            return start_response(status, headers, exc_info)
        return self.wsgi_app(environ, with_hsts)


def init_app(app, settings) -> None:
    """Wrap the application when the issuer is https."""
    if settings.issuer.startswith("https://"):
        app.wsgi_app = StrictTransportSecurity(app.wsgi_app)
