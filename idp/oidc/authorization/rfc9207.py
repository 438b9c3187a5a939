"""OAuth 2.0 Authorization Server Issuer Identification (RFC 9207).

§2: every authorization response, success or error, carries ``iss`` = our issuer identifier,
so a client talking to several providers can tell which one answered (mix-up defence).
Authlib's ``IssuerParameter`` only rewrites ``Location`` headers; our responses are also
delivered by form_post, so the parameter is added to the response parameters themselves.
"""

from __future__ import annotations

from flask import current_app


def with_issuer(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """RFC 9207 §2: add ``iss`` to the authorization response parameters."""
    return [*params, ("iss", current_app.config["IDP"].issuer)]
