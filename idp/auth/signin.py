"""Signing a citizen in: which account, which factors, then the SSO session.

The steps, in order:

1. :func:`check_password` finds the account from what was typed (national number, email or
   phone), applies the per-account throttle (:mod:`idp.auth.lockout`) and verifies the
   password. An unknown account and a wrong password give the same outcome after the same
   argon2 work.
2. :func:`begin_sign_in` remembers "password verified for citizen X" in the signed Flask
   session (``pending``). A citizen who enrolled a second factor (authenticator app, passkey)
   is sent to the second-factor page (:mod:`idp.auth.second_factor`), which reads
   :func:`pending_sign_in`, verifies its factor, then calls :func:`complete_sign_in` with the
   longer ``amr``.
3. :func:`complete_sign_in` works out the ``acr`` reached (:mod:`idp.auth.assurance`), starts
   the SSO session, or adds the factors to the browser's session of the same citizen
   (step-up), records the sign-in in the audit log and redirects to ``next`` or the account
   pages. After the password form, a ``next`` registered with :func:`answer_in_place` (the
   authorization endpoint's stored requests) answers in the sign-in's own response instead,
   when it has no page to show: the browser goes straight to the relying party with its code,
   one round trip fewer, as Keycloak's sign-in form does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, redirect, session
from sqlalchemy import ColumnElement, bindparam, exists, select, update
from sqlalchemy.engine import Row
from werkzeug.wrappers import Response

from idp import clock
from idp.audit.log import flush_after_commit, record, record_after_commit
from idp.auth import lockout
from idp.auth.assurance import ACR_BASIC, PHISHING_RESISTANT, acr_reached, higher
from idp.auth.models import PasswordCredential, TotpCredential, WebAuthnCredential
from idp.auth.password import hash_password, needs_rehash, verify_password
from idp.auth.sessions import current_session, raise_session, start_session
from idp.auth.signals import account_locked, signed_in
from idp.citizens.lookup import find, narrowed
from idp.citizens.models import Citizen
from idp.db import autocommit, db
from idp.db.autocommit import transaction_from_here
from idp.db.loaded import loaded
from idp.db.together import send_held
from idp.db.types import utcnow
from idp.metrics import count_signin
from idp.web.safe_next import safe_next

log = logging.getLogger(__name__)

__all__ = ["ACR_BASIC", "begin_sign_in", "check_password", "complete_sign_in", "has_second_factor",
           "pending_sign_in", "safe_next"]

PENDING_KEY = "idp_pending_signin"
#: A verified password waits this long for the next step before it must be typed again.
PENDING_TTL = 300


@dataclass(frozen=True)
class Attempt:
    """The result of a password check.

    ``outcome``: ``ok``, ``invalid`` (unknown account or wrong password), ``wait`` (a failure
    streak imposes a wait), ``locked`` (too many failures), ``disabled`` (locked by an admin).
    ``wait_seconds`` says for how long, where it applies.
    """

    outcome: str
    #: For ``ok``: the account, with only what a sign-in reads of it loaded (:data:`_SIGNING_IN`).
    citizen: Citizen | None = None
    wait_seconds: int = 0
    #: For ``ok``: whether the account has a second factor (read with the password's hash).
    second_factor: bool = False


def _fail(citizen: Citizen | None, reason: str, key: str | None) -> lockout.Status | None:
    status = lockout.record_failure(key) if key else None
    record("signin", actor="citizen", outcome="failure", citizen_id=citizen.id if citizen else None,
           details={"method": "pwd", "reason": reason})
    count_signin("pwd", reason)
    db.session.commit()
    log.info("password sign-in failed: %s (citizen %s)", reason, citizen.id if citizen else "-")
    if citizen is not None and status is not None and status.failures == lockout.policy().max_failures:
        account_locked.send(current_app._get_current_object(), citizen_id=citizen.id)
    return status


def check_password(username: str, password: str) -> Attempt:
    """Step 1: who is signing in, if the password is right and the account may try now."""
    found = find(username, _SIGNING_IN, _first)
    citizen = _attached(found) if found is not None else None
    key = lockout.account_key(citizen.id if citizen else None, username)
    status = lockout.status(key)
    if lockout.is_blocked(status):
        outcome = "locked" if lockout.policy().is_lock(status) else "wait"
        _fail(citizen, outcome, None)
        return Attempt(outcome, wait_seconds=lockout.wait_seconds(status))

    stored_hash = found.hash if found is not None else None
    if not verify_password(stored_hash, password) or citizen is None:
        status = _fail(citizen, "unknown_account" if citizen is None else "bad_password", key)
        wait = lockout.wait_seconds(status)
        if lockout.policy().is_lock(status):
            return Attempt("locked", wait_seconds=wait)
        return Attempt("invalid", wait_seconds=wait)

    if citizen.locked_until is not None and citizen.locked_until > utcnow():
        _fail(citizen, "disabled", None)
        return Attempt("disabled")
    lockout.reset(key)
    if needs_rehash(stored_hash):
        # Parameters changed (IDP_ARGON2_*): upgrade the hash while the password is at hand.
        db.session.execute(_REHASH, {"credential_id": found.credential_id,
                                     "new_hash": hash_password(password)})
        db.session.commit()
    return Attempt("ok", citizen=citizen, second_factor=bool(found.second_factor))


def _second_factor(citizen_id) -> ColumnElement[bool]:
    """An enrolled authenticator app or a registered passkey of the citizen ``citizen_id``
    (a bound parameter, or a column to correlate with)."""
    return (exists().where(TotpCredential.citizen_id == citizen_id, TotpCredential.confirmed_at.is_not(None))
            | exists().where(WebAuthnCredential.citizen_id == citizen_id))


def _first(statement, params: dict) -> Row | None:
    return autocommit.read(statement, params).first()


def _attached(found: Row) -> Citizen:
    """The account of a row of ``_SIGNING_IN``, as if the ORM had loaded it with only those
    columns (the others load when first read)."""
    return loaded(Citizen, {name: getattr(found, name) for name in _SIGNING_IN_CITIZEN})


# One statement per password sign-in, built once (idp.citizens.lookup.narrowed): the account
# with only what the sign-in reads of it (its uid too, which the code issued in the same
# request needs: idp.oidc.grantee.citizen_ref finds it in the session), the password's hash and
# whether a second factor comes next. Plain columns, read without the ORM (on PostgreSQL on
# the thread's own connection: idp.db.autocommit.read); the credential is rewritten, rarely,
# as plain columns too.
_SIGNING_IN_CITIZEN = ("id", "uid", "level", "locked_until")
_SIGNING_IN = narrowed(
    select(*(getattr(Citizen, name) for name in _SIGNING_IN_CITIZEN),
           PasswordCredential.id.label("credential_id"), PasswordCredential.hash,
           _second_factor(Citizen.id).label("second_factor"))
    .outerjoin(PasswordCredential, PasswordCredential.citizen_id == Citizen.id))
_REHASH = (update(PasswordCredential.__table__)
           .where(PasswordCredential.__table__.c.id == bindparam("credential_id"))
           .values(hash=bindparam("new_hash")))


@dataclass(frozen=True)
class Pending:
    citizen_id: int
    amr: list[str]
    next_url: str | None


def has_second_factor(citizen_id: int) -> bool:
    """An enrolled authenticator app or a registered passkey (recovery codes only back them up)."""
    return bool(db.session.scalar(_HAS_SECOND_FACTOR, {"citizen_id": citizen_id}))


#: Both kinds of second factor in one statement (every sign-in asks), built once.
_HAS_SECOND_FACTOR = select(_second_factor(bindparam("citizen_id")))


def begin_sign_in(citizen: Citizen, amr: list[str], next_url: str | None, *,
                  second_factor: bool) -> Response:
    """Step 2: the first factor is verified; remember it and go on.

    A citizen who protected the account with a second factor (``second_factor``, read by
    :func:`check_password` with the password's hash) is always asked for it (the account's
    protection does not depend on what a relying party asks); otherwise the sign-in completes
    at once.
    """
    session[PENDING_KEY] = {"citizen_id": citizen.id, "amr": list(amr),
                            "next": safe_next(next_url), "at": int(clock.time())}
    if second_factor:
        return redirect("/login/second-factor", 303)
    return complete_sign_in(citizen, amr, in_place=True)


def pending_sign_in() -> Pending | None:
    """The sign-in waiting for its next step in this browser, if recent enough."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or int(clock.time()) - int(data.get("at", 0)) > PENDING_TTL:
        return None
    return Pending(int(data["citizen_id"]), list(data.get("amr", [])), safe_next(data.get("next")))


def complete_sign_in(citizen: Citizen, amr: list[str], acr: str | None = None, *,
                     next_url: str | None = None, method: str | None = None,
                     phishing_resistant: bool | None = None, in_place: bool = False) -> Response:
    """Step 3: record the factors in the SSO session, audit, redirect.

    ``acr`` is worked out from ``amr`` and the account's level (:func:`acr_reached`) unless
    given. When this browser already has a live session of the same citizen, the factors are
    added to it (step-up): ``sid`` stays, so relying parties that joined the session stay joined
    (logout still reaches them), and ``acr`` is worked out over all the session's factors.
    The cookie token is rotated all the same: the session now grants more than before, and a
    token seen before (a shared computer, a log) must not inherit that (OWASP Session
    Management: renew the session ID on any privilege level change). A session of another
    citizen, or none, gives a new session (which rotates any older one).

    ``method`` is how the sign-in history names it (default: the ``amr`` values joined by "+").
    The CSRF token is renewed as well, so a token seen before sign-in is no use after it.

    ``phishing_resistant`` says whether this sign-in's proof was bound to the origin (see
    :mod:`idp.auth.assurance`); None reads it from the methods. On a step-up it is read from
    the methods *newly* proven here only, and the session keeps the higher of its class and the
    new one: a key method the session got from a relayable proof (a pasted certificate
    signature) must not turn into a phishing-resistant one when a password is added to it.

    ``in_place``: a ``next`` registered with :func:`answer_in_place` answers in this response
    (the password form's sign-in; the others end in pages or scripts that expect a redirect to
    our own pages).
    """
    pending = pending_sign_in()
    session.pop(PENDING_KEY, None)
    if next_url is None:
        next_url = pending.next_url if pending and pending.citizen_id == citizen.id else None
    current = current_session()
    details = {"method": method or "+".join(amr)}
    if current is not None:
        transaction_from_here()  # the session changed and the code issued together, or neither
    if current is not None and current.citizen_id == citizen.id:
        methods = sorted(set(current.amr) | set(amr))
        if phishing_resistant is None:
            phishing_resistant = bool((set(amr) - set(current.amr)) & PHISHING_RESISTANT)
        reached = acr or acr_reached(methods, citizen.level, phishing_resistant=phishing_resistant)
        raise_session(current, amr=methods, acr=higher(current.acr, reached))
        details["step_up"] = True
    else:
        start_session(citizen.id, amr=amr,
                      acr=acr or acr_reached(amr, citizen.level, phishing_resistant=phishing_resistant),
                      with_next_write=in_place)
    # Group-committed right after the session's transaction (idp.audit.log.record_after_commit):
    # every sign-in would otherwise hold the audit chain's head locked until its commit, and
    # pay three statements for it. The answer (and its cookie) waits for the event all the same.
    record_after_commit("signin", actor="citizen", citizen_id=citizen.id, details=details)
    citizen_id = citizen.id  # read before the commit expires it: no reload just for the log line
    target = safe_next(next_url) or "/account"
    # An answer in place (the code) is written in the sign-in's own transaction: one commit
    # for both, and the new session and the citizen are not read back after it.
    answered = _answered_in_place(target) if in_place else None
    send_held()  # the session, when no code's statement took it
    db.session.commit()  # (if it fails, the request ends here and its deferred event with it)
    flush_after_commit()
    count_signin("_".join(amr), "success")
    session.pop("csrf_token", None)
    log.info("sign-in succeeded (citizen %s, %s)", citizen_id, "+".join(amr))
    response = answered or redirect(target, 303)
    if signed_in.receivers:
        signed_in.send(current_app._get_current_object(), citizen_id=citizen_id, response=response,
                       new_session="step_up" not in details)
    return response


#: ``next`` targets that can answer in the sign-in's own response, by path prefix (see
#: :func:`answer_in_place`).
_IN_PLACE: dict[str, Callable[[str], Response | None]] = {}


def answer_in_place(prefix: str, answer: Callable[[str], Response | None]) -> None:
    """Let a sign-in whose ``next`` starts with ``prefix`` be answered by ``answer(rest)`` (the
    rest of the path) in its own response, rather than by a redirect to ``next``. ``answer``
    returns None when it has a page to show: the browser is then redirected to ``next`` to see
    it (POST/redirect/GET, so that reloading the page does not post the password again)."""
    _IN_PLACE[prefix] = answer


def _answered_in_place(target: str) -> Response | None:
    for prefix, answer in _IN_PLACE.items():
        if target.startswith(prefix):
            response = answer(target[len(prefix):])
            if response is not None and response.status_code == 302:
                response.status_code = 303  # the answer to a POST (RFC 9700 §4.12)
            return response
    return None
