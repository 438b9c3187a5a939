"""Pushed Authorization Requests (RFC 9126): storing a pushed request and using it once.

The endpoint (``POST /par``, :mod:`idp.oidc.views.par`) authenticates the client as at the
token endpoint (§2), validates the request in full (:mod:`idp.oidc.authorization.request`)
and :func:`push`\\ es it; ``/authorize?client_id=...&request_uri=...`` then :func:`take`\\ s it.

RFC 9126 §7 security: the ``request_uri`` is a 256-bit random value (stored as a SHA-256
digest, so a database copy hands out nothing usable), bound to the client that pushed it
(§7.3: another client's ``client_id`` with it is refused), valid :data:`LIFETIME` seconds, and
used once (§4, §7.3): claimed atomically, so a replayed one fails on every node.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select

from idp.db import db
from idp.db.types import utcnow
from idp.oidc.models import PushedAuthorizationRequest

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = 60

_PUSHED = PushedAuthorizationRequest.__table__
_EXPIRED = _PUSHED.delete().where(_PUSHED.c.expires_at < bindparam("now"))
_CLAIM = (_PUSHED.update()
          .where(_PUSHED.c.uri_digest == bindparam("b_digest"), _PUSHED.c.client_pk == bindparam("b_client"),
                 _PUSHED.c.used_at.is_(None), _PUSHED.c.expires_at > bindparam("b_now"))
          .values(used_at=bindparam("b_now")))
_PARAMS = select(_PUSHED.c.params).where(_PUSHED.c.uri_digest == bindparam("digest"))


def _digest(request_uri: str) -> str:
    return hashlib.sha256(request_uri.encode()).hexdigest()


def push(client, params: dict) -> str:
    """Store validated parameters; the new ``request_uri`` (committed)."""
    request_uri = URN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(_EXPIRED, {"now": now})
    db.session.add(PushedAuthorizationRequest(
        uri_digest=_digest(request_uri), client_pk=client.id, params=params,
        expires_at=now + timedelta(seconds=LIFETIME)))
    db.session.commit()
    return request_uri


def take(client, request_uri: str) -> dict | None:
    """The pushed parameters behind ``request_uri`` when it is this client's, unexpired and
    unused; claimed (committed at once: a replay fails even if this request fails later)."""
    if not isinstance(request_uri, str) or not request_uri.startswith(URN_PREFIX) or len(request_uri) > 200:
        return None
    digest, now = _digest(request_uri), utcnow()
    claimed = db.session.execute(
        _CLAIM, {"b_digest": digest, "b_client": client.id, "b_now": now}).rowcount == 1
    params = db.session.scalar(_PARAMS, {"digest": digest}) if claimed else None
    db.session.commit()
    return params
