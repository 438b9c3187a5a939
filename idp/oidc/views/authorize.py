"""The authorization endpoint (RFC 6749 §3.1; OIDC Core §3.1.2), GET and POST.

1. :func:`idp.oidc.authorization.request.validate` checks the request (client, redirect URI,
   then everything else);
2. :func:`_authenticate`: a live SSO session that satisfies ``prompt`` / ``max_age`` /
   ``id_token_hint``, or the sign-in page (in the answer to a plain GET, else a redirect to
   ``/login?next=/authorize/continue/<id>``; :func:`_to_login`), or ``login_required`` with
   ``prompt=none``;
2b. :func:`_assurance`: a session below the ``acr`` the request needs goes to the second-factor
   page (step-up, no password again), or ``unmet_authentication_requirements`` when the
   account cannot reach it;
3. consent: remembered consent, or the consent page, or ``consent_required``; with the scope
   ``organization`` or ``representation`` and a choice of contexts (themselves, an
   organisation, a child: :mod:`idp.orgs.context`), the consent page asks who the citizen acts
   as, every time (and also with ``prompt=select_account``): that choice is part of the consent;
   ``prompt=none`` then gets ``account_selection_required`` (OIDC Core §3.1.2.6);
4. a single-use code to the redirect URI, with ``state`` and ``iss``.

After the password form, the sign-in's own response answers the stored request
(:func:`idp.auth.signin.answer_in_place`) when no page is due (consent remembered): the browser
goes from the password straight to the relying party. A page (consent, who to act as) is shown
after a redirect to ``/authorize/continue/<id>``, as after every other way of signing in.

A request that needs the citizen is stored in the database (:class:`PendingAuthorization`) so
that any node resumes it. That row is written, read and deleted with Core statements on its
table: it is plain data that no other code loads, and every complete sign-in goes through it
twice, where ORM objects would cost several times as much for nothing. A sign-in newer than
the request satisfies ``prompt=login`` and ``max_age`` (OIDC Core §3.1.2.1), which is what
ends the loop after re-authentication.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import abort, current_app, g, redirect, render_template, request
from flask_babel import gettext
from sqlalchemy import bindparam
from sqlalchemy.engine import Row
from werkzeug.datastructures import MultiDict

from idp.auth import assurance
from idp.auth.second_factor import can_reach, step_up_url
from idp.auth.sessions import current_session, joining
from idp.auth.sign_in_pages import login_address
from idp.auth.signin import answer_in_place
from idp.auth.views import sign_in_page
from idp.citizens.models import Citizen
from idp.db import autocommit, db
from idp.db.autocommit import commit_alone
from idp.db.together import write_together
from idp.db.types import utcnow
from idp.oidc.authorization import consent as consents
from idp.oidc.authorization.request import AuthorizationRequest, validate
from idp.oidc.authorization.response_modes import authorization_response, error_response
from idp.oidc.blueprint import bp
from idp.oidc.errors import (
    AccessDeniedError,
    AccountSelectionRequiredError,
    ConsentRequiredError,
    InvalidAuthorizationRequest,
    LoginRequiredError,
    OAuth2Error,
    UnmetAuthenticationRequirementsError,
)
from idp.oidc.grantee import Grantee, citizen_ref
from idp.oidc.grants import AuthorizationCodeGrant
from idp.oidc.models import PendingAuthorization
from idp.oidc.server import authorization_server
from idp.oidc.subject import remember_subject
from idp.oidc.tokens.acting import claims_for, record_acting, subject_of
from idp.orgs import context as acting_for
from idp.web import csrf, no_store

PENDING_TTL = timedelta(minutes=30)
_PENDING = PendingAuthorization.__table__
#: Built once: they run on every authorization request that needs the citizen.
_PENDING_BY_ID = (_PENDING.select().with_only_columns(_PENDING.c.id, _PENDING.c.params,
                                                      _PENDING.c.created_at, _PENDING.c.expires_at)
                  .where(_PENDING.c.id == bindparam("id")))
_PENDING_DELETE = _PENDING.delete().where(_PENDING.c.id == bindparam("id"))
_JOINED, _CONSENT_COLUMNS = consents.join_remembered(_PENDING, bindparam("citizen_id"), _PENDING.c.client_pk)
#: After a sign-in: the stored request and the citizen's consent to its client, one statement.
_PENDING_AND_CONSENT = (_PENDING_BY_ID.add_columns(_PENDING.c.client_pk, *_CONSENT_COLUMNS)
                        .select_from(_JOINED))
_PENDING_INSERT = _PENDING.insert()


def _page(message: str, status: int = 400):
    return no_store(current_app.make_response(
        (render_template("error.html", code=status, title="Bad Request", message=message), status)))


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # relying parties POST here cross-site (OIDC Core §3.1.2.1); no cookie-bound state changes
def authorize():
    values = request.args if request.method == "GET" else request.form
    return _run(values, created_at=utcnow(), pending=None)


@bp.get("/authorize/continue/<pending_id>")
def resume(pending_id: str):
    pending = _pending(pending_id)
    return _run(MultiDict(pending.params), created_at=pending.created_at, pending=pending)


@bp.post("/authorize/continue/<pending_id>")
def decide(pending_id: str):
    """The consent form's answer (CSRF-protected like every form)."""
    pending = _pending(pending_id)
    decision = request.form.get("decision")
    if decision not in ("allow", "deny"):
        return _page("Choose Allow or Deny.")
    return _run(MultiDict(pending.params), created_at=pending.created_at, pending=pending,
                decision=decision, context=request.form.get("context"))


def _answer_after_sign_in(rest: str):
    """The stored request ``rest`` names, answered in the password form's response; None when it
    has a page to show (then the browser is sent to :func:`resume`)."""
    citizen_id = current_session().citizen_id
    pending = _stored(rest.split("?", 1)[0], _PENDING_AND_CONSENT, citizen_id=citizen_id)
    if pending is None:  # gone: the redirect shows why
        return None
    return _run(MultiDict(pending.params), created_at=pending.created_at, pending=pending, pages=False,
                remembered=consents.remembered_from(pending, pending.client_pk))


answer_in_place("/authorize/continue/", _answer_after_sign_in)


def _pending(pending_id: str) -> Row:
    """The stored request (``id``, ``params``, ``created_at``), or a 400 page once expired."""
    pending = _stored(pending_id)
    if pending is None:
        abort(400, description="This sign-in request has expired. Go back to the service and start again.")
    return pending


def _stored(pending_id: str, statement=_PENDING_BY_ID, **params) -> Row | None:
    """The stored request unless unknown or expired; its ``ui_locales`` become the page's."""
    pending = autocommit.read(statement, {"id": pending_id[:64], **params}).first()
    if pending is None or pending.expires_at <= utcnow():
        return None
    if pending.params.get("ui_locales"):
        g.idp_locale = _locale(pending.params["ui_locales"])
    return pending


def _locale(ui_locales: str) -> str:
    supported = current_app.config["IDP"].languages
    for tag in ui_locales.split():
        if tag.split("-")[0].lower() in supported:
            return tag.split("-")[0].lower()
    return supported[0]


def _run(values, *, created_at: datetime, pending: Row | None, decision: str | None = None,
         context: str | None = None, pages: bool = True, remembered: consents.Remembered | None = None):
    """The request answered: a redirect to the client (or to a sign-in page), an error page, or
    the consent page; with ``pages=False``, None instead of the consent page (nothing written).
    ``remembered``: the citizen's consent, when read already (with the stored request)."""
    try:
        areq = validate(values, stored=pending is not None)
    except InvalidAuthorizationRequest as exc:
        _forget(pending)
        return _page(exc.message)
    except OAuth2Error as error:
        _forget(pending)
        return error_response(error.redirect_uri, error, error.state,
                              getattr(error, "response_mode", None) or _mode(values))
    # What is stored to resume: the parameters in force (a pushed or signed request's).
    values = MultiDict(areq.effective_params())
    try:
        session = _authenticate(areq, created_at)
        if session is None:
            return _to_login(areq, pending, values)
        if not _assurance(areq, session):
            return _to_step_up(areq, pending, values)
        if decision == "deny":
            raise AccessDeniedError("The citizen refused.")
        offered = acting_for.choices(session.citizen_id, areq.scopes)
        must_choose = bool(offered) or ("select_account" in areq.prompt and _asks_context(areq))
        acting = None
        if decision == "allow":
            if must_choose:
                try:
                    acting = acting_for.pick(context, offered)
                except ValueError:
                    # A form edited to name a context the citizen does not hold.
                    return _page(gettext("You cannot act for this organisation or person."), 403)
            consents.grant(session.citizen_id, areq.client, areq.scopes)
        elif must_choose or "consent" in areq.prompt or \
                consents.needs_consent(session.citizen_id, areq.client, areq.scopes, remembered=remembered):
            if "none" in areq.prompt:
                raise AccountSelectionRequiredError() if must_choose else ConsentRequiredError()
            if not pages:
                return None
            return _consent_page(areq, pending, values, offered if must_choose else None)
        response = _issue_code(areq, session, acting, pending)
    except OAuth2Error as error:
        response = error_response(areq.redirect_uri, error, areq.state, areq.response_mode)
        _forget(pending, commit=False)
    db.session.commit()
    return response


def _mode(values) -> str:
    return "form_post" if values.get("response_mode") == "form_post" else "query"


def _authenticate(areq: AuthorizationRequest, created_at: datetime):
    """OIDC Core §3.1.2.3: the session that may answer this request, or None when the citizen
    must sign in (again). ``prompt=none`` turns that into ``login_required`` (§3.1.2.6)."""
    session = current_session()
    need_login = session is None
    if session is not None:
        fresh = session.auth_time >= created_at
        if "login" in areq.prompt and not fresh:
            need_login = True
        if areq.max_age is not None and not fresh and \
                (utcnow() - session.auth_time).total_seconds() > areq.max_age:
            need_login = True
        if areq.hinted_sub is not None:
            citizen = db.session.get(Citizen, session.citizen_id)
            if remember_subject(citizen, areq.client) != areq.hinted_sub:
                need_login = True
    if need_login:
        if "none" in areq.prompt:
            raise LoginRequiredError()
        return None
    return session


def _assurance(areq: AuthorizationRequest, session) -> bool:
    """Whether the session reaches the ``acr`` the request needs (OIDC Core §3.1.2.1, §5.5.1.1
    when essential). False means a step-up is due; an account that cannot reach the level gets
    ``unmet_authentication_requirements`` (Unmet Authentication Requirements 1.0 §2) and
    ``prompt=none`` gets ``login_required`` (§3.1.2.6)."""
    required = areq.required_acr
    if required is None or assurance.rank(session.acr) >= assurance.rank(required):
        return True
    citizen = db.session.get(Citizen, session.citizen_id)
    if not can_reach(citizen, required):
        raise UnmetAuthenticationRequirementsError(
            "The account cannot be authenticated at the requested level.")
    if "none" in areq.prompt:
        raise LoginRequiredError()
    return False


def _to_step_up(areq: AuthorizationRequest, pending, values):
    pending_id = _store(areq, pending, values)
    return no_store(redirect(step_up_url(f"/authorize/continue/{pending_id}", areq.required_acr), code=302))


def _store(areq: AuthorizationRequest, pending: Row | None, values) -> str:
    """The id of the stored request: the one being resumed, or a new row (committed)."""
    if pending is not None:
        return pending.id
    now = utcnow()
    pending_id = secrets.token_urlsafe(24)
    # The request's one write, committed at once: on PostgreSQL, when nothing was read in a
    # transaction before it (a browser with no session yet, the client cached), the INSERT is
    # its own transaction, one round trip instead of BEGIN, INSERT and COMMIT.
    # Abandoned ones are deleted by the purge (idp.oidc.retention), not here on every request.
    commit_alone(_PENDING_INSERT, {
        "id": pending_id, "client_pk": areq.client.id, "params": {k: values.get(k) for k in values},
        "created_at": now, "expires_at": now + PENDING_TTL})
    return pending_id


def _forget(pending: Row | None, *, commit: bool = True) -> None:
    """Delete the stored request (``commit=False``: in the caller's transaction, which then
    commits it together with the code it issued)."""
    if pending is not None:
        db.session.execute(_PENDING_DELETE, {"id": pending.id})
        if commit:
            db.session.commit()


#: Parameters whose request cannot be made twice (RFC 9126 §4 pushed requests and RFC 9101
#: request objects are single use): an answer to them must not be a page the browser reloads.
_SINGLE_USE = ("request_uri", "request")


def _to_login(areq: AuthorizationRequest, pending, values):
    """The sign-in page, whose form goes on with this request once the password is checked.

    A new GET request that can be made again gets the page in this very answer, as Keycloak's
    authorization endpoint does: one round trip fewer on every sign-in, and a reload asks
    again. Otherwise (a POST, a pushed or signed request, a stored request resumed) the browser
    is redirected to ``/login?next=...``, an address it can reload."""
    next_path = f"/authorize/continue/{_store(areq, pending, values)}"
    login_url = login_address(next_path, login_hint=areq.params.get("login_hint"),
                              ui_locales=areq.params.get("ui_locales"))
    if pending is None and request.method == "GET" and not any(p in request.args for p in _SINGLE_USE):
        return no_store(current_app.make_response(
            sign_in_page(next_path, areq.params.get("login_hint"), here=login_url)))
    return no_store(redirect(login_url, code=302))


def _asks_context(areq: AuthorizationRequest) -> bool:
    return acting_for.ORGANIZATION_SCOPE in areq.scopes or acting_for.REPRESENTATION_SCOPE in areq.scopes


def _consent_page(areq: AuthorizationRequest, pending, values, offered=None):
    """The consent page; with ``offered`` (a list, maybe empty), it first asks who the citizen
    acts as: themselves or one of ``offered``."""
    return no_store(current_app.make_response(render_template(
        "oidc/consent.html", client=areq.client, pending_id=_store(areq, pending, values),
        claims=consents.describe(areq.scopes), offered=offered,
        citizen=db.session.get(Citizen, current_session().citizen_id) if offered is not None else None)))


def _issue_code(areq: AuthorizationRequest, session, acting, pending: Row | None):
    """RFC 6749 §4.1.2: the code, with state; Authlib's grant generates it.

    Its writes (the code, the relying party joining the session, the stored request
    ``pending`` deleted) are sent as one statement (:func:`idp.db.together.write_together`):
    nothing reads them back in this request, and a sign-in answered in place runs in
    autocommit on PostgreSQL (:func:`idp.auth.views.login`), where that one statement is also
    what makes them all or nothing."""
    citizen = citizen_ref(session.citizen_id)
    grantee = Grantee(citizen=citizen, sub=subject_of(citizen, acting, areq.client, remember=True),
                      auth_time=session.auth_time,
                      acr=assurance.acr_claim(session.acr, areq.acr_values
                                              or areq.client.default_acr_values or []),
                      amr=assurance.amr_claim(session.amr),
                      session_id=session.id, sid=session.sid, acting=acting,
                      context=claims_for(citizen, acting, areq.client, remember=True))
    if acting is not None:
        record_acting(acting, citizen.id, areq.client)
    issuer = current_app.config["IDP"].issuer
    oauth_request = OAuth2Request("GET", issuer + "/authorize")
    oauth_request.payload = BasicOAuth2Payload(areq.params)
    oauth_request.client = areq.client
    oauth_request.user = grantee
    oauth_request.scope = areq.scope
    grant = AuthorizationCodeGrant(oauth_request, authorization_server())
    code = grant.generate_authorization_code()
    writes = [grant.storing(code, oauth_request), joining(session, areq.client.id)]
    if pending is not None:
        writes.append((_PENDING_DELETE, {"id": pending.id}))
    write_together(*writes)
    return authorization_response(areq.redirect_uri, [("code", code), ("state", areq.state)],
                                  areq.response_mode)
