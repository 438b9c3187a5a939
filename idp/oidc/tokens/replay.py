"""Single use of a ``jti`` across every node: DPoP proofs (RFC 9449 §11.1) and signed request
objects (RFC 9101 §10.9 via FAPI 2.0 §5.3.2.1). The first use wins, the others are replays.

With ``IDP_REDIS_URL`` the mark is a Redis key set with ``NX`` and expiring by itself;
otherwise a unique row in ``used_jtis`` (the pattern of ``used_client_assertions``), committed
at once so a replay is refused even if the request fails later, and purged by
``idp maintenance purge`` once expired. Only digests are stored.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.db import db
from idp.oidc.models import UsedJti

MAX_JTI_LENGTH = 256


def _digest(kind: str, signer: str, jti: str) -> str:
    return hashlib.sha256(f"{kind}\x00{signer}\x00{jti}".encode()).hexdigest()


def _redis():
    extensions = current_app.extensions
    if "idp.replay" not in extensions:
        import redis

        settings = current_app.config["IDP"]
        extensions["idp.replay"] = redis.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    return extensions["idp.replay"]


def first_use(kind: str, signer: str, jti: str, expires_at: float) -> bool:
    """Mark ``jti`` of ``signer`` (a key thumbprint, a client id) used until ``expires_at``
    (epoch seconds); False when it was already used (or is not a usable ``jti``)."""
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        return False
    digest = _digest(kind, signer, jti)
    settings = current_app.config["IDP"]
    if settings.redis_url:
        ttl = max(1, math.ceil(expires_at - clock.time()))
        return bool(_redis().set(f"{settings.redis_prefix}jti:{digest}", b"1", nx=True, ex=ttl))
    db.session.add(UsedJti(jti_digest=digest, expires_at=datetime.fromtimestamp(expires_at, UTC)))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
