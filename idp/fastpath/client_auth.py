"""Client authentication with a secret (RFC 6749 §2.3.1: ``client_secret_basic`` and
``client_secret_post``) for the answers given before Flask.

The same rules as Authlib's methods in the Flask path, by the same code where it can be: the
``Authorization: Basic`` header is parsed by :func:`idp.oidc.authorization_header.basic_credentials`
(the parser the Flask path uses), and the secret is checked
by :meth:`idp.oidc.clients.mixin.OAuthClientMixin.check_client_secret` against the client's
live secrets. The client is read as a :class:`~idp.oidc.clients.registry.ClientRecord`, one query
without the ORM. Only success is decided here: any doubt (no credentials, two methods at once,
an unknown or disabled client, a wrong secret, a method the client did not register) returns
None and Flask answers, with its ``invalid_client`` error and whatever it records.
"""

from __future__ import annotations

from idp.db.single_read import single_read_connection
from idp.oidc.authorization_header import basic_credentials
from idp.oidc.clients.registry import ClientRecord, client_record


def authenticate(environ: dict, form: dict[str, str], connection, endpoint: str, *,
                 jti: str | None = None, sub: str | None = None) -> ClientRecord | None:
    """The client authenticated for ``endpoint`` (Authlib's name: ``token``,
    ``introspection``), or None; with an access token's ``jti`` and ``sub``, its record says
    whether that token was revoked and its citizen's account locked
    (:func:`~idp.oidc.clients.registry.client_record`)."""
    header = environ.get("HTTP_AUTHORIZATION")
    if header:
        if "client_id" in form or "client_secret" in form:
            return None  # RFC 6749 §2.3: one method per request; Flask says which is wrong
        client_id, secret = basic_credentials(header) or (None, None)
        method = "client_secret_basic"
    else:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        method = "client_secret_post"
    if not client_id or not secret:
        return None
    client = client_record(connection, client_id, jti=jti, sub=sub)
    if client is None or not client.check_endpoint_auth_method(method, endpoint):
        return None
    return client if client.check_client_secret(secret) else None


def token_client(environ: dict, form: dict[str, str], grant_type: str) -> ClientRecord | None:
    """The client of a token request for ``grant_type`` that the path before Flask may answer:
    authenticated with its secret, registered for the grant, and not one that must prove a
    DPoP key (RFC 9449 §5.2: Flask's path checks proofs); else None. Needs an app context."""
    with single_read_connection() as connection:
        client = authenticate(environ, form, connection, "token")
    if client is None or client.dpop_bound_access_tokens or not client.check_grant_type(grant_type):
        return None
    return client
