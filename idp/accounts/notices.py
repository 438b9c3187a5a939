"""Security notices: the citizen's verified contacts are told when something that protects the
account changes, so a takeover does not go unnoticed (NIST SP 800-63B §6.1.2.1, ASVS 2.2.3).

Sent for: a password changed (by the citizen, by recovery or by an administrator), a second
factor added or removed, the account locked after too many failed sign-ins, and a sign-in
from a browser not seen before on this account. The citizen may turn off the last one only.

Notices go through the outbox to every verified contact on every configured channel, in the
citizen's language; without a channel, nothing is sent and nothing fails. The "new device"
check needs a cookie holding a random device id; only its digest is stored
(:class:`~idp.citizens.models.KnownDevice`), with the browser family, and the notice names the
browser and the network the sign-in came from (the address with its last part hidden), never
a precise place.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets

from flask import Flask, Response, current_app, request
from flask_babel import format_datetime
from sqlalchemy import select, update

from idp.accounts.contact_verification import language_of
from idp.accounts.devices import describe
from idp.audit.log import record
from idp.auth.signals import account_locked, signed_in
from idp.citizens.models import Citizen, KnownDevice
from idp.db import db
from idp.db.types import utcnow
from idp.notify import outbox

KINDS = ("password_changed", "second_factor_added", "second_factor_removed", "account_locked",
         "new_device")
DEVICE_COOKIE = "idp_device"
DEVICE_COOKIE_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie (RFC 6265bis §5.5)


def _targets(citizen: Citizen) -> list[tuple[str, str]]:
    targets = []
    if citizen.email and citizen.email_verified and outbox.available("email"):
        targets.append(("email", citizen.email))
    if citizen.phone and citizen.phone_verified and outbox.available("sms"):
        targets.append(("sms", citizen.phone))
    return targets


def notify(citizen: Citizen, kind: str, **context) -> int:
    """Queue notice ``kind`` to each verified contact (in the caller's transaction). Returns how
    many messages were queued; audited with the channels, never the addresses."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice {kind!r}")
    targets = _targets(citizen)
    if not targets:
        return 0
    language = language_of(citizen)
    when = format_datetime(utcnow(), "short")
    for channel, recipient in targets:
        outbox.queue(channel, recipient, f"notice_{kind}", language=language, citizen_id=citizen.id,
                     name=citizen.given_name or citizen.full_name, when=when, **context)
    record("notice.queued", citizen_id=citizen.id,
           details={"kind": kind, "channels": [channel for channel, _ in targets]})
    return len(targets)


# -- new devices ---------------------------------------------------------------------------------


def _cookie_name() -> str:
    # RFC 6265bis §4.1.3.2: on https the __Host- prefix pins the cookie to this host and path.
    return f"__Host-{DEVICE_COOKIE}" if current_app.config["SESSION_COOKIE_SECURE"] else DEVICE_COOKIE


def _digest(device_id: str) -> str:
    return hashlib.sha256(device_id.encode()).hexdigest()


def approximate_network(address: str | None) -> str | None:
    """The sign-in's network, not its address: an IPv4 /24 or an IPv6 /48."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def device_signed_in(citizen_id: int, response: Response) -> None:
    """After a sign-in that started a session: remember this browser, and tell the citizen if
    it is new to an account that has signed in before. Costs nothing without a channel."""
    if not (outbox.available("email") or outbox.available("sms")):
        return
    citizen = db.session.get(Citizen, citizen_id)
    device_id = request.cookies.get(_cookie_name())
    now = utcnow()
    if device_id and len(device_id) <= 64:
        known = db.session.execute(update(KnownDevice).where(
            KnownDevice.citizen_id == citizen_id, KnownDevice.digest == _digest(device_id))
            .values(last_seen=now)).rowcount
        if known:
            db.session.commit()
            return
    else:
        device_id = secrets.token_urlsafe(32)
    seen_before = db.session.scalar(
        select(KnownDevice.id).where(KnownDevice.citizen_id == citizen_id).limit(1))
    browser = describe(request.user_agent.string)
    db.session.add(KnownDevice(citizen_id=citizen_id, digest=_digest(device_id), browser=browser,
                               first_seen=now, last_seen=now))
    if seen_before is not None and citizen.notify_new_device:
        notify(citizen, "new_device", browser=browser or "?",
               network=approximate_network(request.remote_addr) or "?")
    db.session.commit()
    response.set_cookie(_cookie_name(), device_id, max_age=DEVICE_COOKIE_AGE, path="/",
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True, samesite="Lax")


def _on_signed_in(sender: Flask, citizen_id: int, response: Response, new_session: bool, **_) -> None:
    """A failure to queue a notice must never turn a good sign-in into an error page."""
    if not new_session:
        return
    try:
        device_signed_in(citizen_id, response)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("could not record the device of a sign-in")


def _on_locked(sender: Flask, citizen_id: int, **_) -> None:
    citizen = db.session.get(Citizen, citizen_id)
    if citizen is not None and notify(citizen, "account_locked"):
        db.session.commit()


def init_app(app: Flask) -> None:
    signed_in.connect(_on_signed_in, sender=app, weak=False)
    account_locked.connect(_on_locked, sender=app, weak=False)
