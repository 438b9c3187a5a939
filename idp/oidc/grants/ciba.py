"""OpenID Connect Client-Initiated Backchannel Authentication Flow - Core 1.0 (CIBA,
https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html),
poll and ping modes, the citizen deciding in their identity app (:mod:`idp.auth.app_devices`).

A clerk at a counter or a call centre asks the citizen to confirm who they are on their own
phone:

1. ``POST /bc-authorize`` (§7.1) by a confidential client registered for the grant type
   :data:`GRANT_TYPE`, authenticated as at ``/token``: ``scope`` (with ``openid``),
   ``login_hint`` = the citizen's national identification number, optional
   ``binding_message`` (shown in the app, §7.1), ``acr_values``, ``requested_expiry``, and for a
   ping client ``client_notification_token``. The answer (§7.3) is ``auth_req_id``,
   ``expires_in`` and ``interval``. **An unknown citizen is answered exactly like a known
   one** (a valid ``auth_req_id`` that never completes and ends in ``expired_token``): the
   endpoint does not tell a client who has an account (the spec's ``unknown_user_id`` would).
2. The app lists the citizen's waiting requests (``POST /app/ciba/pending``, signed) and
   approves or denies one (``POST /app/ciba/<request_id>``, signed, after the PIN).
3. Poll mode (§7.3): the client polls ``/token`` with ``grant_type=`` :data:`GRANT_TYPE` and
   ``auth_req_id``; answers (§11) ``authorization_pending``, ``slow_down`` (faster than
   ``interval``; the interval then grows by 5 s), ``expired_token``, ``access_denied``, or the
   tokens (access token + ID token, §10.1.1), once. Ping mode (§10.2): on the citizen's decision
   the server POSTs ``{"auth_req_id": ...}`` with ``Authorization: Bearer
   <client_notification_token>`` to the client's registered notification endpoint (through
   :mod:`idp.outbound`), and the client then calls ``/token`` as in poll mode.

``amr`` is ``swk`` + ``pin`` (:func:`idp.auth.app_devices.amr_of`); ``acr`` at most
``urn:idp:acr:substantial``: the approval is not bound to anything the client shows the
citizen except the binding message, so it is not phishing-resistant either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import timedelta

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.endpoint import Endpoint
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError, ExpiredTokenError, SlowDownError
from flask import current_app
from sqlalchemy import bindparam, select, update

from idp.audit.log import record
from idp.auth import app_devices, assurance
from idp.auth.app_models import AppDevice
from idp.citizens import lookup
from idp.citizens.models import Citizen, NationalIdentifier
from idp.db import db
from idp.db.types import utcnow
from idp.identifiers import InvalidIdentifier
from idp.keys.service import seal, unseal
from idp.maintenance import PurgeRule, register_rule
from idp.oidc.clients.registry import ClientError, _https_uri, _server_fetched
from idp.oidc.grantee import active_citizen_ref
from idp.oidc.grants.authorization_code import grantee_for
from idp.oidc.grants.id_token import IdToken
from idp.oidc.models import CibaClientSetting, CibaRequest, Client
from idp.oidc.subject import remember_subject
from idp.outbound import OutboundError, OutboundRefused, request

log = logging.getLogger(__name__)

GRANT_TYPE = "urn:openid:params:grant-type:ciba"
DELIVERY_MODES = ("poll", "ping")
#: §4 / §7.1: CIBA clients are confidential.
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
MAX_BINDING_MESSAGE = 100
MAX_PARAMETER = 1024
#: §11: a client polling too fast waits this much longer from then on.
SLOW_DOWN_STEP = 5
NOTIFY_TIMEOUT = 5.0
_SEAL_PURPOSE = "ciba-notification"


class InvalidBindingMessageError(OAuth2Error):
    """CIBA Core §13: the binding message is invalid or unacceptable."""

    error = "invalid_binding_message"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def settings_of(client: Client) -> CibaClientSetting | None:
    return db.session.get(CibaClientSetting, client.id)


def delivery_mode(client: Client) -> str:
    setting = settings_of(client)
    return setting.delivery_mode if setting else "poll"


def configure(client: Client, mode: str, notification_endpoint: str | None) -> CibaClientSetting:
    """Set the client's ``backchannel_token_delivery_mode`` (§4); ping needs a
    ``backchannel_client_notification_endpoint``, an https URL this server may reach
    (:func:`idp.outbound.check_target`). Raises ValueError. Caller commits."""
    if mode not in DELIVERY_MODES:
        raise ValueError(f"the delivery mode must be one of {', '.join(DELIVERY_MODES)}")
    if mode == "ping":
        if not notification_endpoint:
            raise ValueError("ping mode needs a notification endpoint")
        try:
            loopback = current_app.config["IDP"].issuer.startswith("http://")
            notification_endpoint = _https_uri("notification endpoint", notification_endpoint,
                                               loopback=loopback)
            _server_fetched("notification endpoint", notification_endpoint)
        except ClientError as exc:
            raise ValueError(str(exc)) from None
    else:
        notification_endpoint = None
    setting = settings_of(client) or CibaClientSetting(client_pk=client.id)
    setting.delivery_mode = mode
    setting.notification_endpoint = notification_endpoint
    db.session.add(setting)
    return setting


# -- §7: the backchannel authentication endpoint ---------------------------------------------


def _citizen_for_hint(login_hint: str) -> int | None:
    """The account a national identification number names, if it may sign in; None otherwise
    (unknown, malformed, locked: all answered the same way)."""
    scheme = lookup.scheme()
    try:
        value = scheme.parse(login_hint)
    except InvalidIdentifier:
        return None
    row = db.session.execute(_BY_IDENTIFIER, {"scheme": scheme.name, "value": value}).first()
    if row is None or (row.locked_until is not None and row.locked_until > utcnow()):
        return None
    return row.id


_BY_IDENTIFIER = (select(Citizen.id, Citizen.locked_until).join(NationalIdentifier)
                  .where(NationalIdentifier.scheme == bindparam("scheme"),
                         NationalIdentifier.value == bindparam("value")))


class BackchannelAuthenticationEndpoint(Endpoint):
    """§7.1-§7.3 on Authlib's endpoint machinery (client authentication as at ``/token``)."""

    ENDPOINT_NAME = "backchannel_authentication"

    def validate_request(self, request):
        client = self.server.authenticate_client(request, AUTH_METHODS, self.ENDPOINT_NAME)
        request.client = client
        data = request.payload.data
        if any(len(str(v)) > MAX_PARAMETER for v in data.values()):
            raise InvalidRequestError("A parameter is too long.")
        if not client.check_grant_type(GRANT_TYPE):
            raise UnauthorizedClientError("This client is not registered for CIBA.")
        scopes = (data.get("scope") or "").split()
        if "openid" not in scopes:
            raise InvalidScopeError("The scope must include openid (CIBA Core section 7.1).")
        allowed = client.get_allowed_scope(" ".join(scopes)).split()
        if data.get("login_hint_token") or data.get("id_token_hint"):
            raise InvalidRequestError("Only login_hint (the national identification number) is supported.")
        if not data.get("login_hint"):
            raise InvalidRequestError("login_hint is required.")
        if data.get("user_code"):
            raise InvalidRequestError("user_code is not supported "
                                      "(backchannel_user_code_parameter_supported is false).")
        if data.get("request"):
            raise InvalidRequestError("Signed authentication requests are not supported.")
        message = data.get("binding_message")
        if message is not None and (not message.strip() or len(message) > MAX_BINDING_MESSAGE
                                    or not message.isprintable()):
            raise InvalidBindingMessageError(
                f"The binding message must be 1 to {MAX_BINDING_MESSAGE} printable characters.")
        mode = delivery_mode(client)
        token = data.get("client_notification_token")
        if mode == "ping" and not token:
            raise InvalidRequestError("client_notification_token is required in ping mode.")
        acr_values = (data.get("acr_values") or "").split()
        if unknown := [v for v in acr_values if assurance.resolve(v) is None]:
            raise InvalidRequestError(f"Unknown acr values: {' '.join(unknown)}.")
        ttl = current_app.config["IDP"].ciba_request_ttl
        requested = data.get("requested_expiry")
        if requested:
            if not str(requested).isdigit() or int(requested) <= 0:
                raise InvalidRequestError("requested_expiry must be a positive number of seconds.")
            ttl = min(ttl, int(requested))
        return {"client": client, "scope": " ".join(allowed), "login_hint": data["login_hint"],
                "binding_message": message, "acr_values": acr_values, "mode": mode,
                "notification_token": token, "ttl": ttl}

    def create_response(self, validated):
        auth_req_id = secrets.token_urlsafe(32)
        now = utcnow()
        interval = current_app.config["IDP"].ciba_poll_interval
        citizen_id = _citizen_for_hint(validated["login_hint"])
        row = CibaRequest(
            # Hex, not base64url: the app shows this id and a command line takes it back
            # (``wallet approve ID``), where one beginning with "-" would read as an option.
            digest=_digest(auth_req_id), request_id=secrets.token_hex(16),
            client_pk=validated["client"].id, citizen_id=citizen_id, scope=validated["scope"],
            binding_message=validated["binding_message"], acr_values=validated["acr_values"],
            delivery_mode=validated["mode"], interval=interval, created_at=now,
            expires_at=now + timedelta(seconds=validated["ttl"]))
        db.session.add(row)
        db.session.flush()
        if validated["mode"] == "ping":
            row.notification_sealed = seal(
                json.dumps({"token": validated["notification_token"], "auth_req_id": auth_req_id}).encode(),
                purpose=_SEAL_PURPOSE, context=str(row.id))
        client_id = validated["client"].client_id
        # The login_hint is never logged nor echoed; the audit event names the account, if any.
        record("ciba.requested", actor=f"client:{client_id}", client_id=client_id, citizen_id=citizen_id,
               details={"request": row.request_id, "mode": validated["mode"]})
        db.session.commit()
        body = {"auth_req_id": auth_req_id, "expires_in": validated["ttl"], "interval": interval}
        return 200, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                           ("Pragma", "no-cache")]

    def create_endpoint_response(self, request):
        return self.create_response(self.validate_request(request))


# -- the citizen's decision, in the app ------------------------------------------------------


def pending_for(citizen_id: int) -> list[dict]:
    """What the app shows: each live request for the citizen (never the login_hint)."""
    rows = db.session.execute(
        select(CibaRequest, Client.name, Client.agency).join(Client, Client.id == CibaRequest.client_pk)
        .where(CibaRequest.citizen_id == citizen_id, CibaRequest.status == "pending",
               CibaRequest.expires_at > utcnow())
        .order_by(CibaRequest.id)).all()
    return [{"request_id": r.CibaRequest.request_id, "service": r.name, "agency": r.agency,
             "binding_message": r.CibaRequest.binding_message, "scope": r.CibaRequest.scope,
             "expires_at": int(r.CibaRequest.expires_at.timestamp())} for r in rows]


def decide(device: AppDevice, request_id: str, approve: bool) -> CibaRequest | None:
    """Record the citizen's decision (once); None when the request is not the device's
    citizen's, not pending, or expired. Caller commits, then calls :func:`notify`."""
    row = db.session.scalar(select(CibaRequest).where(CibaRequest.request_id == request_id[:43]))
    now = utcnow()
    if row is None or row.citizen_id != device.citizen_id or row.status != "pending" or row.expires_at <= now:
        return None
    citizen = db.session.get(Citizen, device.citizen_id)
    amr = app_devices.amr_of(device)
    reached = assurance.acr_reached(amr, citizen.level, phishing_resistant=False)
    values = {"status": "approved" if approve else "denied", "device_pk": device.id}
    if approve:
        values.update(amr=assurance.amr_claim(amr), acr=assurance.acr_claim(reached, row.acr_values),
                      auth_time=now)
    claimed = db.session.execute(
        update(CibaRequest).where(CibaRequest.id == row.id, CibaRequest.status == "pending")
        .values(**values)).rowcount == 1
    if not claimed:
        return None
    app_devices.mark_used(device)
    client = db.session.get(Client, row.client_pk)
    record("ciba.approved" if approve else "ciba.denied", actor="citizen",
           outcome="success" if approve else "failure", citizen_id=device.citizen_id,
           client_id=client.client_id,
           details={"request": row.request_id, "device": device.device_id, "device_name": device.name,
                    "service": client.name})
    db.session.refresh(row)
    return row


def notify(row: CibaRequest) -> bool:
    """Ping mode (§10.2): tell the client its request is decided. A failure is logged: the
    client can still poll (§10.2: the client MAY poll)."""
    if row.delivery_mode != "ping" or row.notification_sealed is None:
        return False
    setting = db.session.get(CibaClientSetting, row.client_pk)
    if setting is None or not setting.notification_endpoint:
        return False
    sealed = json.loads(unseal(row.notification_sealed, purpose=_SEAL_PURPOSE, context=str(row.id)))
    try:
        answer = request("POST", setting.notification_endpoint, timeout=NOTIFY_TIMEOUT, max_bytes=4096,
                         headers={"Authorization": f"Bearer {sealed['token']}"},
                         json_body={"auth_req_id": sealed["auth_req_id"]})
    except (OutboundError, OutboundRefused) as exc:
        log.warning("CIBA ping notification failed (request %s): %s", row.request_id, exc)
        return False
    return 200 <= answer.status < 300


# -- §10.1: the token endpoint grant ---------------------------------------------------------


class CibaGrant(grants.BaseGrant, grants.TokenEndpointMixin):
    """The CIBA grant on Authlib's token endpoint (§10.1, errors §11)."""

    GRANT_TYPE = GRANT_TYPE
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        self.request.client = client
        if not client.check_grant_type(GRANT_TYPE):
            raise UnauthorizedClientError("This client is not registered for CIBA.")
        auth_req_id = self.request.payload.data.get("auth_req_id")
        if not auth_req_id or len(auth_req_id) > 200:
            raise InvalidRequestError("auth_req_id is required.")
        row = db.session.scalar(select(CibaRequest).where(CibaRequest.digest == _digest(auth_req_id)))
        if row is None or row.client_pk != client.id:
            raise InvalidGrantError("Unknown auth_req_id.")
        now = utcnow()
        if row.status == "issued":
            raise InvalidGrantError("The tokens for this auth_req_id were already issued.")
        if row.status == "denied":
            raise AccessDeniedError("The citizen refused the request.")
        if row.expires_at <= now:
            raise ExpiredTokenError("The request has expired.")
        if row.status == "pending":
            self._pending(row, now)
        claimed = db.session.execute(
            update(CibaRequest).where(CibaRequest.id == row.id, CibaRequest.status == "approved")
            .values(status="issued")).rowcount == 1
        citizen = active_citizen_ref(row.citizen_id) if claimed and row.citizen_id else None
        if citizen is None:
            raise InvalidGrantError("The request cannot be used.")
        remember_subject(citizen, client)  # a pairwise sub must resolve at UserInfo (OIDC Core §8.1)
        self.request.user = grantee_for(citizen, client, session_id=None, sid=None, auth_time=row.auth_time,
                                        acr=row.acr, amr=row.amr)
        self.request.scope = row.scope

    def _pending(self, row: CibaRequest, now) -> None:
        """§11: ``slow_down`` faster than the interval (which then grows), else
        ``authorization_pending``; the poll time is committed whatever the answer."""
        last = row.last_polled_at
        too_fast = last is not None and (now - last).total_seconds() < row.interval
        values = {"last_polled_at": now}
        if too_fast:
            values["interval"] = row.interval + SLOW_DOWN_STEP
        db.session.execute(update(CibaRequest).where(CibaRequest.id == row.id).values(**values))
        db.session.commit()
        if too_fast:
            raise SlowDownError(f"Poll at most every {row.interval} seconds.")
        raise AuthorizationPendingError("The citizen has not answered yet.")

    def create_token_response(self):
        token = self.generate_token(user=self.request.user, scope=self.request.scope,
                                    include_refresh_token=False)
        token["id_token"] = IdToken().encode_id_token(token, self.request)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


#: An expired request is kept this long, so a client still polling gets ``expired_token``.
KEEP_EXPIRED = timedelta(hours=1)


def register_purge(app) -> None:
    register_rule(app, PurgeRule("ciba_requests", CibaRequest.__table__,
                                 lambda ctx: CibaRequest.expires_at < ctx.now - KEEP_EXPIRED,
                                 description="CIBA requests an hour past expiry"))


def init_server(server) -> None:
    """Wire CIBA into the authorization server (:func:`idp.oidc.server.init_server`)."""
    server.register_grant(CibaGrant)
    server.register_endpoint(BackchannelAuthenticationEndpoint)


__all__ = [
    "AUTH_METHODS", "DELIVERY_MODES", "GRANT_TYPE", "BackchannelAuthenticationEndpoint", "CibaGrant",
    "InvalidBindingMessageError", "configure", "decide", "delivery_mode", "init_server", "notify",
    "pending_for",
]
