"""The Flask views of RP-initiated logout (``/logout``, ``/logout/confirm``): the request is
validated by :class:`idp.oidc.logout.rp_initiated.EndSessionEndpoint` through the server."""

from __future__ import annotations

from flask import current_app, render_template, request

from idp.auth.sessions import current_session
from idp.citizens.models import Citizen
from idp.db import db
from idp.oidc.blueprint import bp
from idp.oidc.errors import OAuth2Error
from idp.oidc.logout.frontchannel import page_before_redirect
from idp.oidc.server import authorization_server
from idp.oidc.subject import subject_for
from idp.web import csrf, no_store


def _page(message: str):
    return no_store(current_app.make_response(
        (render_template("error.html", code=400, title="Bad Request", message=message), 400)))


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # relying parties may POST the logout request cross-site; confirmation is protected
def logout():
    return _logout(confirmed=False)


@bp.post("/logout/confirm")
def logout_confirm():
    if request.form.get("decision") != "logout":
        return no_store(current_app.make_response(render_template("oidc/logged_out.html", signed_out=False)))
    return _logout(confirmed=True)


def _hint_is_about(validated, sso) -> bool:
    """Whether the request's ``id_token_hint`` names this browser's session (§2, §6).

    The ``sid`` decides when the ID token has one; otherwise its ``sub`` must be the one the
    hint's client knows the signed-in citizen by (pairwise subjects differ per sector)."""
    claims = validated.id_token_claims
    if not claims:
        return False
    if claims.get("sid"):
        return claims["sid"] == sso.sid
    citizen = db.session.get(Citizen, sso.citizen_id)
    return bool(validated.client is not None and citizen is not None
                and claims.get("sub") == subject_for(citizen, validated.client))


def _logout(confirmed: bool):
    server = authorization_server()
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return _page(error.description or "The logout request is not valid.")
    sso = current_session()
    if sso is not None and not confirmed and not _hint_is_about(validated, sso):
        fields = {k: v for k, v in request.values.items()
                  if k in ("client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint")}
        if validated.client is not None:  # named by the hint's aud: its redirect URIs still apply
            fields.setdefault("client_id", validated.client.client_id)
        return no_store(current_app.make_response(render_template(
            "oidc/logout_confirm.html", client=validated.client, fields=fields)))
    response = server.create_endpoint_response("end_session", validated)
    db.session.commit()
    if response is None:
        response = current_app.make_response(render_template("oidc/logged_out.html", signed_out=True))
    else:
        response = page_before_redirect(response)
    return no_store(response)
