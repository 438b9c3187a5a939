"""Client secrets (RFC 6749 §2.3.1): 256-bit random values of which only the SHA-256 digest is
stored, the plain value being shown once.

A rotated-out secret keeps working until its ``expires_at`` (``IDP_CLIENT_SECRET_GRACE`` after
the rotation), so a relying party can redeploy with the new one without an outage. Works on the
ORM rows and on the plain rows of :class:`idp.oidc.clients.registry.ClientRecord` alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from idp.db.types import utcnow


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A 256-bit random client secret (RFC 6749 §2.3.1; RFC 9700 §2.5)."""
    return secrets.token_urlsafe(32)


def is_live(row, at: datetime) -> bool:
    """Whether the secret ``row`` (anything with ``expires_at``) still works at ``at``."""
    return row.expires_at is None or row.expires_at > at


def check_secret(client, secret: str) -> bool:
    """Constant-time comparison of the digest against every live secret of the client."""
    if not secret or len(secret) > 256:
        return False
    digest = secret_digest(secret)
    now = utcnow()
    ok = False
    for row in client.secrets:
        if is_live(row, now):
            ok |= hmac.compare_digest(row.digest, digest)
    return ok
