"""The Flask views of dynamic client registration (RFC 7591 §3, RFC 7592 §2): each request is
checked for shape here and handed to the endpoints of :mod:`idp.oidc.endpoints.registration`."""

from __future__ import annotations

from flask import abort, jsonify, request

from idp.db import db
from idp.oidc.blueprint import bp
from idp.oidc.endpoints.registration import MAX_BODY, ConfigurationEndpoint, RegistrationEndpoint, enabled
from idp.oidc.server import authorization_server
from idp.web import csrf


def _respond(name: str):
    if not enabled():
        abort(404)
    if (request.content_length or 0) > MAX_BODY:
        abort(413)
    if request.method in ("POST", "PUT") and not isinstance(request.get_json(silent=True), dict):
        # RFC 7591 §3.1: the metadata is a JSON object; anything else is invalid_request.
        response = jsonify(error="invalid_request",
                           error_description="The body must be a JSON object (application/json).")
        response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return response
    response = authorization_server().create_endpoint_response(name)
    if response.status_code in (200, 201, 204):
        db.session.commit()
    else:
        db.session.rollback()
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/connect/register")
@csrf.exempt
def register():
    return _respond(RegistrationEndpoint.ENDPOINT_NAME)


@bp.route("/connect/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
def configure(client_id: str):
    return _respond(ConfigurationEndpoint.ENDPOINT_NAME)
