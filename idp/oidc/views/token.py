"""The token endpoint (RFC 6749 §3.2), the revocation endpoint (RFC 7009 §2) and the
introspection endpoint (RFC 7662 §2): thin views over Authlib's server, which authenticates
the client and runs the grant. The transaction commits only on success (reuse revocations
commit on their own, see the grants)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from flask import request

from idp.audit.log import discard_after_commit, flush_after_commit
from idp.db import db
from idp.metrics import count_token
from idp.oidc.blueprint import bp
from idp.oidc.errors import quoted
from idp.oidc.server import authorization_server
from idp.oidc.tokens import dpop
from idp.web import csrf


def _finish(response):
    if response.status_code == 200:
        db.session.commit()
        flush_after_commit()
    else:
        db.session.rollback()
        discard_after_commit()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _repeated_parameter():
    """RFC 6749 §3.1 and §3.2: "parameters MUST NOT be included more than once". Authlib
    would take one of the values; refusing is the only reading that cannot be ambiguous.
    The ``invalid_request`` answer, or None."""
    for name, values in request.form.lists():
        if len(values) > 1:
            error = InvalidRequestError(f"The parameter '{quoted(name)}' was sent more than once.")
            return _finish(authorization_server().handle_error_response(None, error))
    return None


@bp.post("/token")
@csrf.exempt
def token():
    refused = _repeated_parameter()
    if refused is not None:
        return refused
    try:
        proven = dpop.token_request_key()  # RFC 9449 §5: the proof, before anything else
    except OAuth2Error as error:
        return _finish(authorization_server().handle_error_response(None, error))
    response = _finish(authorization_server().create_token_response())
    if response.status_code == 200:
        count_token(request.form.get("grant_type", ""))
        if proven and dpop.nonce_required():
            response.headers["DPoP-Nonce"] = dpop.new_nonce()  # RFC 9449 §8.2: the next one
    return response


@bp.post("/introspect")
@csrf.exempt
def introspect():
    refused = _repeated_parameter()
    if refused is not None:
        return refused
    return _finish(authorization_server().create_endpoint_response("introspection"))


@bp.post("/revoke")
@csrf.exempt
def revoke():
    refused = _repeated_parameter()
    if refused is not None:
        return refused
    return _finish(authorization_server().create_endpoint_response("revocation"))
