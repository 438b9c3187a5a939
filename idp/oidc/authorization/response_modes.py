"""Delivering the authorization response (OAuth 2.0 Multiple Response Type Encoding Practices
§2.1 ``query``; OAuth 2.0 Form Post Response Mode §2 ``form_post``), with ``iss`` (RFC 9207).

``fragment`` is not offered: the code flow's default is ``query`` and fragments leak through
browser history and referrers (RFC 9700 §2.1.2).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Response, redirect, render_template

from idp.oidc.authorization.rfc9207 import with_issuer
from idp.web import no_store

RESPONSE_MODES = ("query", "form_post")


def authorization_response(redirect_uri: str, params: list[tuple[str, str]], mode: str) -> Response:
    params = with_issuer([(k, v) for k, v in params if v is not None])
    if mode == "form_post":
        # Form Post Response Mode §2: an auto-submitting form to the redirect URI.
        response = Response(render_template("oidc/form_post.html", action=redirect_uri, params=params))
        return no_store(response)
    parts = urlsplit(redirect_uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return no_store(redirect(urlunsplit(parts._replace(query=query)), code=302))


def error_response(redirect_uri: str, error: OAuth2Error, state: str | None, mode: str) -> Response:
    """RFC 6749 §4.1.2.1: error, error_description and state to the (validated) redirect URI."""
    params = [("error", error.error)]
    if error.description:
        params.append(("error_description", error.description))
    if state:
        params.append(("state", state))
    return authorization_response(redirect_uri, params, mode)
