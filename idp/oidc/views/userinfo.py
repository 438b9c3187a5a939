"""The UserInfo endpoint (OIDC Core §5.3): GET or POST with a bearer access token in the
Authorization header (RFC 6750 §2.1), or POST with it in the form body (§2.2).
Claims are released by the token's scopes only; the response is never cached.

A browser-based client reads every answer cross-origin, the 401s with their ``WWW-Authenticate``
and ``DPoP-Nonce`` too, after a preflight for its ``Authorization`` and ``DPoP`` headers
(:mod:`idp.web.cors`).

The token's standing and the citizen are each one statement on a single read connection
(:mod:`idp.db.single_read`): on PostgreSQL no pooled connection, no transaction, no ORM; with
the token's standing and the client cached, one ``SELECT``. The ``address`` and
``national_id`` scopes read the registry through the ORM as well."""

from __future__ import annotations

from flask import jsonify

from idp.db.single_read import single_read_connection
from idp.oidc.blueprint import bp
from idp.oidc.claims import claims_source, user_claims
from idp.oidc.clients.registry import get_client
from idp.oidc.errors import InvalidTokenError
from idp.oidc.tokens.acting import CONTEXT_CLAIMS
from idp.oidc.tokens.resource import current_token, error_response, require_access_token
from idp.web import csrf, no_store
from idp.web.cors import cross_origin


@bp.route("/userinfo", methods=["GET", "POST", "OPTIONS"])
@csrf.exempt
@cross_origin(methods=("GET", "POST"), allow_headers=("Authorization", "DPoP", "Content-Type"),
              expose_headers=("WWW-Authenticate", "DPoP-Nonce"))
@require_access_token("openid", allow_body=True)
def userinfo():
    token = current_token
    client = get_client(token["client_id"])
    with single_read_connection() as connection:
        citizen = claims_source(connection, client, token["sub"])
    if citizen is None:
        return error_response(InvalidTokenError(description="The citizen is unknown."))
    claims = user_claims(citizen, token["sub"], token.get("scope", "").split())
    # The acting context, as in the ID token (idp.oidc.tokens.acting); for a person context the
    # claims above are the represented person's, ``act`` names who acts for them.
    claims.update({name: token[name] for name in CONTEXT_CLAIMS if name in token})
    return no_store(jsonify(claims))
