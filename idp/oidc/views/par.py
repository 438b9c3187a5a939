"""``POST /par``, the pushed authorization request endpoint (RFC 9126 §2): the client
authenticates as at the token endpoint, its request (plain parameters, or a signed request
object in ``request``, RFC 9101) is validated in full — errors are answered here as JSON, never
through a redirect (§2.3) — and stored (:mod:`idp.oidc.authorization.par`); the answer is
``201 {"request_uri", "expires_in"}`` (§2.2)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from flask import jsonify, request
from werkzeug.datastructures import MultiDict

from idp.db import db
from idp.oidc.authorization import par
from idp.oidc.authorization.request import validate
from idp.oidc.blueprint import bp
from idp.oidc.errors import InvalidAuthorizationRequest, quoted
from idp.oidc.grants.authorization_code import AUTH_METHODS
from idp.oidc.server import authorization_server
from idp.web import csrf

#: Client authentication parameters: not part of the authorization request (§2.1).
AUTH_PARAMETERS = ("client_secret", "client_assertion", "client_assertion_type")


def _error(error: OAuth2Error):
    status, body, headers = error()
    response = jsonify(dict(body))
    response.status_code = status
    for name, value in headers:  # DPoP-Nonce with use_dpop_nonce (RFC 9449 §8)
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = "Basic"
    return response


@bp.post("/par")
@csrf.exempt
def pushed_authorization_request():
    response = _push()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _push():
    form = request.form
    for name, values in form.lists():
        if len(values) > 1:
            return _error(InvalidRequestError(f"The parameter '{quoted(name)}' was sent more than once."))
    server = authorization_server()
    try:
        client = server.authenticate_client(server.create_oauth2_request(request), AUTH_METHODS,
                                            endpoint="pushed_authorization_request")
    except OAuth2Error as error:
        db.session.rollback()
        return _error(error if isinstance(error, InvalidClientError) else InvalidClientError())
    if form.get("client_id") not in (None, client.client_id):
        return _error(InvalidRequestError("client_id is not the authenticated client."))
    if "request_uri" in form:
        return _error(InvalidRequestError("request_uri cannot be pushed (RFC 9126 section 2.1)."))
    values = MultiDict([(k, v) for k, v in form.items() if k not in AUTH_PARAMETERS])
    values["client_id"] = client.client_id
    try:
        areq = validate(values, at_par=True)
    except InvalidAuthorizationRequest as exc:
        return _error(InvalidRequestError(exc.message))
    except OAuth2Error as error:
        error.redirect_uri = None
        error.state = None
        return _error(error)
    response = jsonify(request_uri=par.push(client, areq.effective_params()), expires_in=par.LIFETIME)
    response.status_code = 201
    return response
