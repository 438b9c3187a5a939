"""Reading credentials from the ``Authorization`` header: the one parser every endpoint uses.

A WSGI server hands header values over as latin-1 text, so a header may hold any byte. Every
malformed value is "no credentials" here, never an exception, so the caller answers 401 with
its own error (``invalid_client`` for client authentication, RFC 6749 §5.2; ``invalid_token``
for a bearer token, RFC 6750 §3.1) instead of a 500.

- :func:`basic_credentials`: ``client_secret_basic`` (RFC 6749 §2.3.1). The base64 must be
  valid (RFC 7617 §2), the decoded value UTF-8 with a colon, and client id and secret are
  each ``application/x-www-form-urlencoded`` (RFC 6749 Appendix B): ``+`` is a space and a
  percent escape must decode to UTF-8.
- :func:`bearer_token`: RFC 6750 §2.1, a ``b64token`` of visible ASCII.

Used by Authlib's client authentication (:func:`authenticate_client_secret_basic`, registered
in :mod:`idp.oidc.server` in place of Authlib's own), by the answers given before Flask
(:mod:`idp.fastpath.client_auth`), by dynamic registration and by every bearer-protected
resource (:mod:`idp.oidc.tokens.resource`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749.errors import InvalidClientError

log = logging.getLogger(__name__)

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: The longest credential value read; anything longer is malformed (the header limit of a
#: WSGI server is larger, and no client id, secret or token of ours comes near this).
MAX_LENGTH = 8192


def _scheme_and_value(header: str | None, scheme: str) -> str | None:
    if not header or len(header) > MAX_LENGTH:
        return None
    name, _, value = header.strip().partition(" ")
    if name.lower() != scheme:
        return None
    return value.strip() or None


def _form_decoded(text: str) -> str:
    """RFC 6749 Appendix B: form-urlencoded, UTF-8; UnicodeDecodeError on a bad escape."""
    return unquote_plus(text, encoding="utf-8", errors="strict")


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client id, client secret) from an ``Authorization: Basic`` header value, or None when
    the header is absent, of another scheme, or malformed in any way."""
    value = _scheme_and_value(header, "basic")
    if value is None:
        return None
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            return None
        client_id, secret = _form_decoded(client_id), _form_decoded(secret)
    except (UnicodeError, binascii.Error, ValueError):
        return None
    if not client_id or not secret:
        return None
    return client_id, secret


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header value, or None when absent, of
    another scheme, or not an RFC 6750 ``b64token``."""
    value = _scheme_and_value(header, "bearer")
    if value is None or not _B64TOKEN.fullmatch(value):
        return None
    return value


def authenticate_client_secret_basic(query_client, request):
    """Authlib's ``client_secret_basic`` method (its hook: ``register_client_auth_method``)
    on :func:`basic_credentials`; None (so Authlib answers 401 ``invalid_client``) when the
    header is missing or malformed or the secret is wrong."""
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is None:
        return None
    client_id, secret = credentials
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=401, description="The client does not exist on this server.")
    if client.check_client_secret(secret):
        return client
    log.debug("client_secret_basic failed for a client")
    return None
