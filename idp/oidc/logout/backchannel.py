"""OpenID Connect Back-Channel Logout 1.0 (https://openid.net/specs/openid-connect-backchannel-1_0.html).

When an SSO session ends, for whatever reason (RP-initiated logout, ``POST /signout``, the
account page, an administrator, expiry), every client that joined it and registered a
``backchannel_logout_uri`` is sent a signed logout token (§2.4) by a direct HTTP POST (§2.5).

- **Queue in the database.** :func:`enqueue` (a receiver of
  :data:`idp.auth.sessions.session_ended`, which is sent after the commit) writes one
  :class:`~idp.oidc.models.LogoutDelivery` per client, carrying the signed token, and commits at
  once: a delivery survives a crash or a restart, and any node may send it.
- **Worker.** :func:`run_once` claims due rows (``SELECT ... FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, then a conditional update on the attempt counter, so two nodes never send the
  same row at the same time), POSTs outside any transaction with a short timeout, and records
  the outcome: delivered, retried later with exponential backoff, or given up after
  ``IDP_BACKCHANNEL_MAX_ATTEMPTS``. Every server process runs it in a daemon thread
  (:func:`start_worker`); operators can run ``idp logout-queue run [--once]``.
- **Expiry.** A session that expires while nobody uses it ends without a request; the worker
  ends such sessions (:func:`idp.auth.sessions.end_expired_sessions`) so their clients learn it
  too.
"""

from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import func, or_, select

from idp import clock, process_threads
from idp.audit.log import record
from idp.auth.models import SessionClient, SsoSession
from idp.auth.sessions import end_expired_sessions, expired_exists, expiry_bounds, session_ended
from idp.citizens.models import Citizen
from idp.db import autocommit, db, work_queue
from idp.db.types import utcnow
from idp.keys import compact_jws
from idp.maintenance import PurgeRule, register_rule
from idp.oidc.grants.id_token import id_token_alg
from idp.oidc.models import Client, LogoutDelivery
from idp.oidc.subject import subject_for
from idp.outbound import OutboundError, OutboundRefused, request

log = logging.getLogger(__name__)

#: §2.4: the ``events`` member that makes a JWT a logout token.
EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4: explicit typing, so a logout token is never mistaken for another JWT (RFC 8725 §3.11).
TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type
#: Re-sign a stored token when fewer seconds than this are left before its ``exp``.
RESIGN_MARGIN = 30
#: Statuses a client may answer with that mean "try again later" (RFC 9110 §15.5.9, RFC 6585 §4).
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


def _settings():
    return current_app.config["IDP"]


# -- the logout token (§2.4) -------------------------------------------------------------------


def make_logout_token(client: Client, *, sub: str | None, sid: str | None, jti: str) -> tuple[str, datetime]:
    """Sign a logout token for ``client``; returns it and its expiry.

    §2.4: iss, aud, iat, exp, jti, events with the back-channel event, sub and/or sid, and no
    ``nonce`` (so it can never pass as an ID token). Signed like the client's ID tokens
    (``id_token_signed_response_alg``), typed ``logout+jwt``.
    """
    if not sub and not sid:
        raise ValueError("a logout token needs sub or sid (section 2.4)")
    settings = _settings()
    now = int(clock.time())
    claims = {"iss": settings.issuer, "aud": client.client_id, "iat": now,
              "exp": now + settings.logout_token_ttl, "jti": jti, "events": {EVENT: {}}}
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    alg = id_token_alg(client)
    token = compact_jws.sign(claims, alg=alg, typ=TOKEN_TYPE)
    return token, datetime.fromtimestamp(claims["exp"], UTC)


# -- enqueueing ----------------------------------------------------------------------------------


def clients_to_notify(session: SsoSession) -> list[Client]:
    """Enabled clients that joined ``session`` and registered a back-channel logout URI."""
    return list(db.session.scalars(
        select(Client).join(SessionClient, SessionClient.client_id == Client.id)
        .where(SessionClient.session_id == session.id, Client.backchannel_logout_uri.is_not(None),
               Client.enabled.is_(True))
        .order_by(Client.id)))


def enqueue(sso_session: SsoSession, reason: str | None = None) -> int:
    """Queue a logout token for every client to notify about the ended session, and commit.

    Each client gets the ``sub`` it knows the citizen by (pairwise where registered so) and the
    session's ``sid``; a (client, sid) pair already queued is not queued again.
    """
    citizen = db.session.get(Citizen, sso_session.citizen_id)
    queued = 0
    now = utcnow()
    for client in clients_to_notify(sso_session):
        exists = db.session.scalar(select(LogoutDelivery.id).where(
            LogoutDelivery.client_pk == client.id, LogoutDelivery.sid == sso_session.sid))
        if exists is not None:
            continue
        jti = secrets.token_urlsafe(18)
        sub = subject_for(citizen, client) if citizen is not None else None
        token, expires_at = make_logout_token(client, sub=sub, sid=sso_session.sid, jti=jti)
        db.session.add(LogoutDelivery(
            client_pk=client.id, sid=sso_session.sid, citizen_id=sso_session.citizen_id,
            uri=client.backchannel_logout_uri, jti=jti, logout_token=token,
            token_expires_at=expires_at, next_attempt_at=now, created_at=now))
        queued += 1
    db.session.commit()
    return queued


def _on_session_ended(sender: Flask, sso_session: SsoSession, reason: str, **_) -> None:
    """Receiver of ``session_ended``: a failure to queue must not turn a sign-out into an error
    page (the session is over either way), so it is logged and the worker's expiry pass or an
    operator can see it."""
    try:
        enqueue(sso_session, reason)
    except Exception:
        db.session.rollback()
        log.exception("could not queue back-channel logout for session %s", sso_session.id)


# -- delivering ----------------------------------------------------------------------------------


@dataclass
class RunSummary:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    sessions_expired: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def _claim(limit: int) -> list[int]:
    """Take up to ``limit`` due deliveries (:func:`idp.db.work_queue.claim_due`), leased for
    longer than an attempt can take."""
    lease = timedelta(seconds=2 * _settings().backchannel_timeout + 30)
    return work_queue.claim_due(LogoutDelivery, limit, lease)


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: base x 2^(attempts-1), at most IDP_BACKCHANNEL_RETRY_MAX."""
    settings = _settings()
    return work_queue.backoff(attempts, settings.backchannel_retry_base, settings.backchannel_retry_max)


#: The receiver's answer is not used; read at most this much of it.
MAX_RESPONSE_BYTES = 16 * 1024


def _post(uri: str, token: str) -> tuple[int | None, str | None]:
    """§2.5: POST ``logout_token`` form-encoded, through :mod:`idp.outbound` (never to a
    private address, resolved and pinned at each attempt). Redirects are not followed (the
    registered URI is the only place the token may go). Returns (status, error)."""
    timeout = _settings().backchannel_timeout
    try:
        response = request("POST", uri, form={"logout_token": token}, timeout=timeout,
                           max_bytes=MAX_RESPONSE_BYTES, headers={"Accept": "application/json"})
    except OutboundRefused:
        return None, "refused: non-public address"
    except OutboundError as exc:
        return None, exc.reason
    return response.status, None


def _deliver(delivery_id: int, summary: RunSummary) -> None:
    delivery = db.session.get(LogoutDelivery, delivery_id)
    client = db.session.get(Client, delivery.client_pk)
    if client is None or not client.enabled:
        _finish(delivery, client, "failed", "client disabled", summary)
        return
    if (delivery.token_expires_at - utcnow()).total_seconds() < RESIGN_MARGIN:
        # The same logout (same jti), freshly signed: a retry hours later must still validate.
        sub = db.session.get(Citizen, delivery.citizen_id) if delivery.citizen_id else None
        delivery.logout_token, delivery.token_expires_at = make_logout_token(
            client, sub=subject_for(sub, client) if sub is not None else None, sid=delivery.sid,
            jti=delivery.jti)
    uri, token = delivery.uri, delivery.logout_token
    db.session.commit()  # no transaction (and no lock) is held while waiting on the network
    status, error = _post(uri, token)
    delivery = db.session.get(LogoutDelivery, delivery_id)
    if status in (200, 204):
        _finish(delivery, client, "delivered", None, summary)
    elif status is not None and 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        # §2.8: the client refused this token; sending it again would be refused again.
        _finish(delivery, client, "failed", f"HTTP {status}", summary)
    else:
        error = error or f"HTTP {status}"
        if delivery.attempts >= _settings().backchannel_max_attempts:
            _finish(delivery, client, "failed", error, summary)
        else:
            delivery.last_error = error
            delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
            record("logout.backchannel_retry", outcome="failure", client_id=client.client_id,
                   citizen_id=delivery.citizen_id,
                   details={"jti": delivery.jti, "attempts": delivery.attempts, "error": error,
                            "next_attempt_at": delivery.next_attempt_at.isoformat(timespec="seconds")})
            db.session.commit()
            summary.retrying += 1


def _finish(delivery: LogoutDelivery, client: Client | None, status: str, error: str | None,
            summary: RunSummary) -> None:
    delivery.status = status
    delivery.last_error = error
    delivery.finished_at = utcnow()
    action = "logout.backchannel_delivered" if status == "delivered" else "logout.backchannel_failed"
    record(action, outcome="success" if status == "delivered" else "failure",
           client_id=client.client_id if client else None, citizen_id=delivery.citizen_id,
           details={"jti": delivery.jti, "attempts": delivery.attempts, "error": error})
    db.session.commit()
    if status == "delivered":
        summary.delivered += 1
    else:
        summary.failed += 1


def run_once(limit: int = 50) -> RunSummary:
    """One pass of the worker: end expired sessions, then send every due delivery (up to
    ``limit``). Safe to run on several nodes at once."""
    summary = RunSummary(sessions_expired=end_expired_sessions())
    for delivery_id in _claim(limit):
        try:
            _deliver(delivery_id, summary)
        except Exception:
            db.session.rollback()
            log.exception("back-channel logout delivery %s failed unexpectedly", delivery_id)
    return summary


def pending_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(LogoutDelivery).where(LogoutDelivery.status == "pending"))


# -- the worker thread ---------------------------------------------------------------------------


#: Where this process keeps its sender (:func:`idp.db.work_queue.start_once`).
WORKER = "idp.logout_worker"


def stop_worker(app: Flask) -> None:
    """Stop this process's sender and wait for its pass to end (:func:`idp.process_threads.stop_all`)."""
    work_queue.stop(app, WORKER)


def start_worker(app: Flask) -> work_queue.PollingWorker | None:
    """Start this process's sender once, polling every IDP_BACKCHANNEL_POLL_INTERVAL seconds."""
    settings = app.config["IDP"]
    if app.testing or not settings.backchannel_worker:
        return None
    return work_queue.start_once(app, WORKER, lambda: work_queue.PollingWorker(
        app, "idp-logout-queue", settings.backchannel_poll_interval, lambda: run_once().attempted,
        due=is_due))


@functools.cache
def due_question():
    """Whether a pass (:func:`run_once`) would find something to do: a session past its
    lifetime to end, or a delivery due. One statement, the two indexed ``EXISTS`` of the pass's
    two reads."""
    return select(or_(expired_exists(), work_queue.due_exists(LogoutDelivery)))


def is_due() -> bool:
    """:func:`due_question` now: asked before each pass (:class:`idp.db.work_queue.PollingWorker`)."""
    return bool(autocommit.read(due_question(), expiry_bounds(utcnow())).first()[0])


def init_app(app: Flask) -> None:
    session_ended.connect(_on_session_ended, sender=app, weak=False)
    # The sender thread is started by the server itself, in each gunicorn worker as it boots
    # (idp.server.post_worker_init, used by `idp serve` and gunicorn.conf.py), so a restarted
    # node sends what was pending before any request arrives. Under granian (the Dockerfile),
    # which has no such hook, the first request a process serves starts it (a health check is
    # enough): idp.process_threads.
    if app.config["IDP"].backchannel_worker and not app.testing:
        process_threads.register(app, lambda: start_worker(app), lambda: stop_worker(app))
    register_rule(app, PurgeRule(
        "logout_deliveries", LogoutDelivery.__table__,
        lambda ctx: LogoutDelivery.finished_at < ctx.cutoff,
        description="back-channel logout deliveries finished before the retention window"))


__all__ = [
    "EVENT", "TOKEN_TYPE", "RunSummary", "backoff", "enqueue",
    "make_logout_token", "pending_count", "run_once", "start_worker",
]
