"""The HTTP side of CIBA (:mod:`idp.oidc.grants.ciba`): ``POST /bc-authorize`` for clients, and the
two endpoints the citizen's identity app calls with signed messages
(:data:`idp.auth.app_devices.CIBA_TYPE`):

- ``POST /app/ciba/pending``: payload ``{"action": "list"}``; answer ``{"requests": [...]}``;
- ``POST /app/ciba/<request_id>``: payload ``{"action": "approve"|"deny", "request_id": ...}``.
"""

from __future__ import annotations

from flask import jsonify, make_response, request

from idp.auth import app_devices
from idp.auth.app_devices import AppProtocolError
from idp.db import db
from idp.oidc.blueprint import bp
from idp.oidc.grants import ciba
from idp.oidc.server import authorization_server
from idp.oidc.views.token import _finish, _repeated_parameter
from idp.web import csrf, no_store


@bp.post("/bc-authorize")
@csrf.exempt  # clients authenticate themselves, as at /token
def backchannel_authentication():
    refused = _repeated_parameter()
    if refused is not None:
        return refused
    name = ciba.BackchannelAuthenticationEndpoint.ENDPOINT_NAME
    return _finish(authorization_server().create_endpoint_response(name))


def _verified():
    return app_devices.verify_device_message(request.get_data(as_text=True), app_devices.CIBA_TYPE)


def _error(error: AppProtocolError):
    body = jsonify(error=error.code, error_description=error.description)
    return no_store(make_response(body, error.status))


@bp.post("/app/ciba/pending")
@csrf.exempt  # the app authenticates by its signature
def app_pending():
    try:
        device, payload = _verified()
    except AppProtocolError as exc:
        return _error(exc)
    if payload.get("action") != "list":
        return _error(AppProtocolError("invalid_request", "Expected action 'list'."))
    return no_store(make_response(jsonify(requests=ciba.pending_for(device.citizen_id))))


@bp.post("/app/ciba/<request_id>")
@csrf.exempt
def app_decide(request_id: str):
    try:
        device, payload = _verified()
    except AppProtocolError as exc:
        return _error(exc)
    action = payload.get("action")
    if action not in ("approve", "deny") or payload.get("request_id") != request_id:
        return _error(AppProtocolError("invalid_request", "Expected approve or deny for this request."))
    row = ciba.decide(device, request_id, action == "approve")
    if row is None:
        db.session.rollback()
        return _error(AppProtocolError("expired_token", "This request is unknown, expired or answered."))
    db.session.commit()
    ciba.notify(row)
    return no_store(make_response(jsonify(status=row.status)))
