"""OpenID Connect Front-Channel Logout 1.0 (https://openid.net/specs/openid-connect-frontchannel-1_0.html).

When a session ends in the citizen's browser (RP-initiated logout, ``POST /signout``, the
account page), the page that says "you are signed out" also loads, in invisible iframes, the
``frontchannel_logout_uri`` of every client that joined the session (§2), so each relying party
clears its own cookies in the same browser. Clients registered with
``frontchannel_logout_session_required`` get ``iss`` and ``sid`` as query parameters (§2, §3).

The page's Content-Security-Policy is widened for exactly those origins (``frame-src``), and an
RP-initiated logout that would redirect to ``post_logout_redirect_uri`` first shows the page
with the iframes, then continues to the relying party (§4: the OP must render the iframes
before redirecting).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, current_app, g, has_request_context, render_template
from sqlalchemy import select

from idp.auth.models import SessionClient, SsoSession
from idp.auth.sessions import session_ended
from idp.db import db
from idp.oidc.models import Client
from idp.web import CSP, no_store

#: Seconds the "signed out" page waits for the iframes before going on to the relying party.
CONTINUE_AFTER = 2


def logout_uri(client: Client, session: SsoSession, issuer: str) -> str:
    """§2: the client's URI, with ``iss`` and ``sid`` added when it registered
    ``frontchannel_logout_session_required`` (its own query parameters are kept, §2)."""
    uri = client.frontchannel_logout_uri
    if not client.frontchannel_logout_session_required:
        return uri
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("iss", issuer), ("sid", session.sid)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def logout_uris(session: SsoSession) -> list[str]:
    """The iframe sources for every enabled client that joined ``session``."""
    issuer = current_app.config["IDP"].issuer
    clients = db.session.scalars(
        select(Client).join(SessionClient, SessionClient.client_id == Client.id)
        .where(SessionClient.session_id == session.id, Client.frontchannel_logout_uri.is_not(None),
               Client.enabled.is_(True))
        .order_by(Client.id))
    return [logout_uri(client, session, issuer) for client in clients]


def _on_session_ended(sender: Flask, sso_session: SsoSession, reason: str, **_) -> None:
    """Only a session ended by this browser's own request gets iframes: a session ended by an
    administrator or by expiry has no page to put them on (back-channel logout covers those)."""
    if has_request_context() and reason != "rotated":
        g.setdefault("idp_frontchannel_uris", []).extend(logout_uris(sso_session))


def pending_uris() -> list[str]:
    """The iframe sources this response must render (templates call it)."""
    return list(dict.fromkeys(g.get("idp_frontchannel_uris", []))) if has_request_context() else []


def _origins(uris: list[str]) -> list[str]:
    return sorted({f"{p.scheme}://{p.netloc}" for p in map(urlsplit, uris)})


def _allow_frames(response):
    """The page CSP (no framing by default) plus ``frame-src`` for the relying parties' origins."""
    uris = pending_uris()
    if uris and response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = f"{CSP}; frame-src {' '.join(_origins(uris))}"
    return response


def page_before_redirect(response):
    """RP-initiated logout: when iframes must load, show them first and continue to the
    ``post_logout_redirect_uri`` afterwards (a meta refresh, and a link for the citizen)."""
    if not pending_uris() or response.status_code not in (301, 302, 303, 307, 308):
        return response
    target = response.headers["Location"]
    page = current_app.make_response(render_template(
        "oidc/logged_out.html", signed_out=True, continue_url=target, continue_after=CONTINUE_AFTER))
    return no_store(page)


def init_app(app: Flask) -> None:
    session_ended.connect(_on_session_ended, sender=app, weak=False)
    app.after_request(_allow_frames)

    @app.context_processor
    def _frontchannel():
        return {"frontchannel_logout_uris": pending_uris}


__all__ = ["logout_uri", "logout_uris", "page_before_redirect", "pending_uris"]
