"""Pushed Authorization Requests (RFC 9126).

``POST /par``: the client authenticates as at the token endpoint (§2), its request (plain
parameters, or a signed request object in ``request``, RFC 9101) is validated in full by
:mod:`idp.oidc.authorization_request` — errors are answered here as JSON, never through a
redirect — and stored; the answer is ``201 {"request_uri", "expires_in"}`` (§2.2).
``/authorize?client_id=...&request_uri=...`` then uses it (:func:`take`).

RFC 9126 §7 security: the ``request_uri`` is a 256-bit random value (stored as a SHA-256
digest, so a database copy hands out nothing usable), bound to the client that pushed it
(§7.3: another client's ``client_id`` with it is refused), valid :data:`LIFETIME` seconds, and
used once (§4, §7.3): claimed atomically, so a replayed one fails on every node.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from flask import jsonify, request
from sqlalchemy import bindparam, select
from werkzeug.datastructures import MultiDict

from idp.db import db
from idp.db.types import utcnow
from idp.oidc.blueprint import bp
from idp.oidc.errors import InvalidAuthorizationRequest
from idp.oidc.grants.authorization_code import AUTH_METHODS
from idp.oidc.models import PushedAuthorizationRequest
from idp.oidc.server import authorization_server
from idp.web import csrf

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = 60
#: Client authentication parameters: not part of the authorization request (§2.1).
AUTH_PARAMETERS = ("client_secret", "client_assertion", "client_assertion_type")

_PUSHED = PushedAuthorizationRequest.__table__
_EXPIRED = _PUSHED.delete().where(_PUSHED.c.expires_at < bindparam("now"))
_CLAIM = (_PUSHED.update()
          .where(_PUSHED.c.uri_digest == bindparam("b_digest"), _PUSHED.c.client_pk == bindparam("b_client"),
                 _PUSHED.c.used_at.is_(None), _PUSHED.c.expires_at > bindparam("b_now"))
          .values(used_at=bindparam("b_now")))
_PARAMS = select(_PUSHED.c.params).where(_PUSHED.c.uri_digest == bindparam("digest"))


def _digest(request_uri: str) -> str:
    return hashlib.sha256(request_uri.encode()).hexdigest()


def take(client, request_uri: str) -> dict | None:
    """The pushed parameters behind ``request_uri`` when it is this client's, unexpired and
    unused; claimed (committed at once: a replay fails even if this request fails later)."""
    if not isinstance(request_uri, str) or not request_uri.startswith(URN_PREFIX) or len(request_uri) > 200:
        return None
    digest, now = _digest(request_uri), utcnow()
    claimed = db.session.execute(
        _CLAIM, {"b_digest": digest, "b_client": client.id, "b_now": now}).rowcount == 1
    params = db.session.scalar(_PARAMS, {"digest": digest}) if claimed else None
    db.session.commit()
    return params


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


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/par")
@csrf.exempt
def pushed_authorization_request():
    return _no_store(_push())


def _push():
    from idp.oidc.authorization_request import validate

    form = request.form
    for name, values in form.lists():
        if len(values) > 1:
            return _error(InvalidRequestError(f"The parameter '{name}' was sent more than once."))
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
    request_uri = URN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(_EXPIRED, {"now": now})
    db.session.add(PushedAuthorizationRequest(
        uri_digest=_digest(request_uri), client_pk=client.id, params=areq.effective_params(),
        expires_at=now + timedelta(seconds=LIFETIME)))
    db.session.commit()
    response = jsonify(request_uri=request_uri, expires_in=LIFETIME)
    response.status_code = 201
    return response
