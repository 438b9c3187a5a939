"""The SSO session: one server-side row per browser sign-in, shared by every relying party.

The browser holds a random 256-bit token in the ``idp_session`` cookie (HttpOnly, SameSite=Lax,
Secure when the issuer is https); the database holds only its SHA-256 digest. Any node can
serve any request: nothing about the session lives in process memory.

Other packages react to a session ending (back-channel logout, for one) by connecting to
:data:`session_ended`.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from blinker import Namespace
from flask import Flask, current_app, g, request
from sqlalchemy import bindparam, select, union, update
from sqlalchemy.dialects import postgresql, sqlite

from idp.auth.models import SessionClient, SsoSession
from idp.db import autocommit, db
from idp.db.autocommit import transaction_from_here
from idp.db.ids import next_id
from idp.db.loaded import loaded
from idp.db.together import Write, hold
from idp.db.types import utcnow

COOKIE_NAME = "idp_session"
#: The name on https (Secure cookies): a ``__Host-`` cookie is accepted by browsers only with
#: Secure, Path=/ and no Domain, so neither a sibling subdomain nor a plain-http page can set or
#: overwrite it (session fixation; RFC 6265bis §4.1.3.2).
HOST_COOKIE_NAME = "__Host-" + COOKIE_NAME
#: Don't write ``last_seen_at`` on every request: once a minute is precise enough for idle expiry.
_TOUCH_EVERY = timedelta(seconds=60)

_signals = Namespace()
#: Sent with ``sso_session`` and ``reason`` after a session is ended and committed.
session_ended = _signals.signal("idp.session-ended")
#: Sent with ``sso_session`` and ``reason`` while a session is being ended, before the commit:
#: receivers write in the same transaction what must end with the session (the tokens issued
#: in it, :mod:`idp.oidc.tokens.ending`), so the session never ends without it.
session_ending = _signals.signal("idp.session-ending")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _settings():
    return current_app.config["IDP"]


def start_session(citizen_id: int, *, amr: list[str], acr: str,
                  auth_time: datetime | None = None, with_next_write: bool = False) -> SsoSession:
    """Create a session for a fresh sign-in and set its cookie on the response.

    A session the browser already had is ended first ("rotated"): signing in again always
    gives a new identifier, so a planted cookie never becomes an authenticated one.

    ``with_next_write``: the caller writes more in this request (the code its answer issues)
    and sends what is held before it commits (:func:`idp.db.together.send_held`). In autocommit
    on PostgreSQL the session's row is then written in that write's statement, its id taken
    from the sequence beforehand (:mod:`idp.db.ids`): one round trip fewer per sign-in.
    """
    previous = current_session()
    if previous is not None:
        end_session(previous, "rotated", commit=False)
    now = utcnow()
    token = secrets.token_urlsafe(32)
    values = {
        "token_digest": _digest(token),
        "sid": secrets.token_urlsafe(24),
        "citizen_id": citizen_id,
        "auth_time": auth_time or now,
        "amr": list(amr),
        "acr": acr,
        "ip_address": request.remote_addr,
        "user_agent": (request.user_agent.string or "")[:400] or None,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + timedelta(seconds=_settings().session_absolute_ttl),
        "ended_at": None,
        "end_reason": None,
    }
    # One INSERT (held for the next write, or ... RETURNING id), then the object joins the ORM
    # session as the row it now is (later changes to it are flushed as UPDATEs): the unit of
    # work's own INSERT costs more than the statement, on a row written by every sign-in.
    if with_next_write and autocommit.each_statement_alone():
        values["id"] = next_id(db.engine, SsoSession.__tablename__)
        hold(_INSERT_SESSION_WITH_ID, values)
    else:
        values["id"] = autocommit.execute(_INSERT_SESSION, values).scalar_one()
    session = loaded(SsoSession, values)
    g.idp_session = session
    g.idp_session_cookie = token
    return session


_INSERT_SESSION = SsoSession.__table__.insert().returning(SsoSession.__table__.c.id)
_INSERT_SESSION_WITH_ID = SsoSession.__table__.insert()


def raise_session(session: SsoSession, *, amr: list[str], acr: str) -> SsoSession:
    """Record further authentication (step-up) on a live session, and rotate its cookie.

    ``auth_time`` moves to now: OIDC Core §2 defines it as the time of the last
    authentication event.
    """
    token = secrets.token_urlsafe(32)
    session.token_digest = _digest(token)
    session.amr = sorted(set(session.amr) | set(amr))
    session.acr = acr
    session.auth_time = utcnow()
    g.idp_session = session
    g.idp_session_cookie = token
    return session


def current_session() -> SsoSession | None:
    """The live session of this request's browser, or None (ended, expired, idle, unknown)."""
    if "idp_session" in g:
        return g.idp_session
    g.idp_session = None
    token = request.cookies.get(cookie_name())
    if not token or len(token) > 100:
        return None
    session = db.session.scalar(_BY_DIGEST, {"digest": _digest(token)})
    if session is None or session.ended_at is not None:
        return None
    now = utcnow()
    idle_limit = session.last_seen_at + timedelta(seconds=_settings().session_idle_ttl)
    if now >= session.expires_at or now >= idle_limit:
        end_session(session, "expired")
        g.idp_session_cookie = ""
        return None
    if now - session.last_seen_at >= _TOUCH_EVERY:
        session.last_seen_at = now
        db.session.commit()
    g.idp_session = session
    return session


#: Built once: every request that looks at the browser's session runs it.
_BY_DIGEST = select(SsoSession).where(SsoSession.token_digest == bindparam("digest"))


def end_session(session: SsoSession, reason: str, *, commit: bool = True) -> None:
    """End a session (sign-out, expiry, admin action). Receivers of ``session_ended`` run
    after the commit, so what they queue refers to a session that is really over."""
    transaction_from_here()  # its end and what receivers queue for it, together
    if session.ended_at is not None:
        return
    session.ended_at = utcnow()
    session.end_reason = reason
    session_ending.send(current_app._get_current_object(), sso_session=session, reason=reason)
    if g.get("idp_session") is session:
        g.idp_session = None
        g.idp_session_cookie = ""
    if commit:
        db.session.commit()
    pending = g.setdefault("idp_sessions_ended", [])
    pending.append((session, reason))
    if commit:
        _notify_ended()


def _notify_ended() -> None:
    for session, reason in g.pop("idp_sessions_ended", []):
        session_ended.send(current_app._get_current_object(), sso_session=session, reason=reason)


def join(session: SsoSession, client_pk: int) -> None:
    """Record that a relying party received a code from this session (in the caller's
    transaction). One INSERT that does nothing when the pair is already recorded (its unique
    constraint), rather than a SELECT then an INSERT: every authorization runs it, and two
    authorizations of one session at once cannot both insert and fail on the constraint."""
    db.session.execute(*joining(session, client_pk))


def joining(session: SsoSession, client_pk: int) -> Write:
    """:func:`join`'s INSERT and its parameters, for a caller that sends it with its other
    writes (:func:`idp.db.together.write_together`)."""
    return (_JOIN[db.session.get_bind().dialect.name],
            {"session_id": session.id, "client_id": client_pk, "joined_at": utcnow()})


#: Built once per dialect (the two spell "on conflict do nothing" with their own insert).
_JOIN = {name: insert(SessionClient.__table__).on_conflict_do_nothing(
    index_elements=["session_id", "client_id"]) for name, insert in
    (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))}


def sessions_of(citizen_id: int) -> list[SsoSession]:
    """The citizen's live sessions, newest first."""
    now = utcnow()
    return list(db.session.scalars(
        select(SsoSession)
        .where(SsoSession.citizen_id == citizen_id, SsoSession.ended_at.is_(None),
               SsoSession.expires_at > now)
        .order_by(SsoSession.created_at.desc())
    ))


def end_all_sessions(citizen_id: int, reason: str, *, except_id: int | None = None) -> int:
    """End every live session of a citizen (sign out everywhere, admin lock)."""
    ended = 0
    for session in sessions_of(citizen_id):
        if session.id != except_id:
            end_session(session, reason, commit=False)
            ended += 1
    db.session.commit()
    _notify_ended()
    return ended


def expired_sessions(now: datetime, limit: int):
    """The query of the expiry sweep: up to ``limit`` ids of sessions not ended that passed
    their absolute or idle lifetime by ``now``. Sessions older than the retention window are
    left to the purge: their clients' own sessions are long gone, and a first start must not
    flood them with stale logouts.

    Each deadline is read as a range of its partial index of live sessions
    (``ix_sso_sessions_live_*``), in that deadline's order: empty when nothing is due, however
    many sessions there are, live or ended. (One condition with OR over both deadlines left the
    planner to guess how many rows match from the whole table's statistics, where ended
    sessions are past both; with half a million live sessions it then walked the table.)"""
    return _expired(limit=limit, **expiry_bounds(now))


def expiry_bounds(now: datetime) -> dict[str, datetime]:
    """The parameters of :func:`expired_exists` at ``now``."""
    settings = _settings()
    return {"now": now, "oldest": now - timedelta(seconds=settings.purge_retention),
            "idle_before": now - timedelta(seconds=settings.session_idle_ttl)}


def _expired(now, oldest, idle_before, limit: int):
    ranges = ((SsoSession.expires_at, now), (SsoSession.last_seen_at, idle_before))
    due = union(*(
        select(select(SsoSession.id)
               .where(SsoSession.ended_at.is_(None), SsoSession.created_at > oldest,
                      deadline <= passed)
               .order_by(deadline).limit(limit).subquery().c.id)
        for deadline, passed in ranges)).subquery()
    return select(due.c.id).order_by(due.c.id).limit(limit)


@functools.cache
def expired_exists():
    """``EXISTS (...)`` of :func:`expired_sessions`, its bounds the parameters ``now``,
    ``oldest`` and ``idle_before`` (:func:`expiry_bounds`): part of the back-channel logout
    sender's question before each pass (:func:`idp.oidc.logout.backchannel.is_due`). Built
    once, so that the statements made of it are too."""
    return _expired(bindparam("now"), bindparam("oldest"), bindparam("idle_before"), 1).exists()


def end_expired_sessions(limit: int = 100) -> int:
    """End sessions past their absolute or idle lifetime that nobody has touched since, and
    tell ``session_ended`` receivers (reason ``expired``). The conditional update makes each
    session end once, whichever node gets there first."""
    now = utcnow()
    candidates = db.session.scalars(expired_sessions(now, limit)).all()
    ended = []
    for session_id in candidates:
        moved = db.session.execute(
            update(SsoSession).where(SsoSession.id == session_id, SsoSession.ended_at.is_(None))
            .values(ended_at=now, end_reason="expired")).rowcount
        if moved == 1:
            ended.append(session_id)
            session_ending.send(current_app._get_current_object(),
                                sso_session=db.session.get(SsoSession, session_id), reason="expired")
    db.session.commit()
    app = current_app._get_current_object()
    for session_id in ended:
        session_ended.send(app, sso_session=db.session.get(SsoSession, session_id), reason="expired")
    return len(ended)


def cookie_name() -> str:
    """The SSO cookie's name: ``__Host-idp_session`` when cookies are Secure, else ``idp_session``."""
    return HOST_COOKIE_NAME if _settings().secure_cookies else COOKIE_NAME


def _set_cookie(response):
    """Send the cookie this request's session calls for. A new session token never goes out
    with a server error: the request may have failed after its session was committed (the
    sign-in's audit event is written after that commit), and a browser must not be signed in
    by an answer that says it failed. A deletion always goes out."""
    token = g.pop("idp_session_cookie", None)
    if token is None or (token and response.status_code >= 500):
        return response
    secure = _settings().secure_cookies
    if token == "":
        response.delete_cookie(cookie_name(), path="/", secure=secure, httponly=True, samesite="Lax")
    else:
        response.set_cookie(cookie_name(), token, path="/", secure=secure, httponly=True,
                            samesite="Lax")
    return response


def _commit_pending_notifications(exc=None):  # teardown signature
    if g.get("idp_sessions_ended") and exc is None:
        _notify_ended()


def init_app(app: Flask) -> None:
    app.after_request(_set_cookie)
    app.teardown_request(_commit_pending_notifications)


__all__ = [
    "COOKIE_NAME", "HOST_COOKIE_NAME", "cookie_name", "current_session", "end_all_sessions",
    "end_expired_sessions", "end_session", "join", "raise_session", "session_ended", "session_ending",
    "sessions_of", "start_session",
]
