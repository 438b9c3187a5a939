"""Signing keys: generation, rotation, retirement and the published JWKS (RFC 7517 §5).

One active key per algorithm signs; a key taken out of service ("retired") stays in the
JWKS until ``publish_until``, the expiry of the last token it may have signed, so relying
parties that cache the JWKS never see a signature they cannot check (the rotation of OIDC
Core §10.1.1).

Private keys live in the database, encrypted with AES-256-GCM under a key derived from
``IDP_SECRET_KEY`` by HKDF-SHA256 (RFC 5869); every node reads the same rows. What the hot path
needs (the active signing keys, the JWKS and its ETag) is cached per app in memory and
re-read every :data:`CACHE_SECONDS`, or at once on this node after a rotation: a key added,
retired or withdrawn on one node is seen by every node within that bound. The re-read is one
small query; keys are decrypted and parsed again only when the rows changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey
from sqlalchemy import or_, select

from idp.algorithms import SIGNING_ALGS
from idp.db import db
from idp.db.types import utcnow
from idp.keys.models import SigningKey

#: Algorithms a key can be made for (RFC 7518 §3.1, RFC 8037 §3.1), and how to make one.
GENERATORS = {
    "RS256": lambda: RSAKey.generate_key(2048, auto_kid=False),
    "PS256": lambda: RSAKey.generate_key(2048, auto_kid=False),
    "ES256": lambda: ECKey.generate_key("P-256", auto_kid=False),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519", auto_kid=False),
}
#: Algorithms the server signs ID tokens with on a client's request (besides the configured ones).
ID_TOKEN_ALGS = ("RS256", "ES256", "EdDSA")
if tuple(GENERATORS) != SIGNING_ALGS or not set(ID_TOKEN_ALGS) <= set(SIGNING_ALGS):
    raise RuntimeError("idp.algorithms.SIGNING_ALGS and the key generators disagree")
CACHE_SECONDS = 2

# joserfc flags EdDSA as superseded by RFC 9864's "Ed25519"; relying parties still ask for
# "EdDSA" (OIDC Discovery lists it), so it stays supported and the warning is noise.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=Warning)


class KeyServiceError(Exception):
    """A key operation that cannot be done (unknown kid, unsupported algorithm)."""


def supported_algs() -> tuple[str, ...]:
    settings = current_app.config["IDP"]
    algs = list(ID_TOKEN_ALGS)
    for alg in (settings.signing_alg, settings.access_token_alg):
        if alg not in algs:
            algs.append(alg)
    return tuple(algs)


def longest_token_lifetime() -> timedelta:
    """How long a signature stays relevant: the longest-lived signed token (ID or access)."""
    settings = current_app.config["IDP"]
    return timedelta(seconds=max(settings.id_token_ttl, settings.access_token_ttl))


# -- encryption at rest ----------------------------------------------------------------------


def _wrapping_key(salt: bytes = b"idp-signing-keys", info: bytes = b"idp signing key encryption v1") -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info)
    return hkdf.derive(current_app.config["SECRET_KEY"].encode())


def _encrypt(pem: bytes, kid: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_wrapping_key()).encrypt(nonce, pem, kid.encode())


def _decrypt(blob: bytes, kid: str) -> bytes:
    return AESGCM(_wrapping_key()).decrypt(blob[:12], blob[12:], kid.encode())


def seal(data: bytes, *, purpose: str, context: str) -> bytes:
    """Encrypt another secret at rest (TOTP seeds) the same way as private keys: AES-256-GCM
    under a key derived from ``IDP_SECRET_KEY`` by HKDF, one key per ``purpose``; ``context``
    (e.g. the owner's id) is authenticated, so a blob copied to another row does not open."""
    nonce = os.urandom(12)
    key = _wrapping_key(b"idp-" + purpose.encode(), b"idp " + purpose.encode() + b" encryption v1")
    return nonce + AESGCM(key).encrypt(nonce, data, context.encode())


def unseal(blob: bytes, *, purpose: str, context: str) -> bytes:
    key = _wrapping_key(b"idp-" + purpose.encode(), b"idp " + purpose.encode() + b" encryption v1")
    return AESGCM(key).decrypt(blob[:12], blob[12:], context.encode())


# -- the in-memory view ------------------------------------------------------------------------


@dataclass
class _Cache:
    loaded_at: float = 0.0
    signing: dict[str, Key] = field(default_factory=dict)
    jwks: dict = field(default_factory=dict)
    keyset: KeySet | None = None
    etag: str = ""
    fingerprint: tuple = ()
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache() -> _Cache:
    cache = current_app.extensions.get("idp.keys")
    if cache is None:  # not setdefault: that would build a cache and a lock on every call
        cache = current_app.extensions.setdefault("idp.keys", _Cache())
    return cache


def invalidate() -> None:
    _cache().loaded_at = 0.0


def _load(cache: _Cache) -> None:
    now = utcnow()
    rows = db.session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > now))
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
    ).all()
    missing = [alg for alg in supported_algs()
               if not any(r.alg == alg and r.retired_at is None for r in rows)]
    if missing:
        for alg in missing:
            _create(alg)
        db.session.commit()
        rows = db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        ).all()
    fingerprint = tuple((r.kid, r.retired_at, r.publish_until) for r in rows)
    if fingerprint == cache.fingerprint and cache.keyset is not None:
        cache.loaded_at = time.monotonic()
        return
    signing: dict[str, Key] = {}
    public = []
    for row in rows:
        public.append(dict(row.public_jwk))
        if row.retired_at is None and row.alg not in signing:
            signing[row.alg] = _private_key(row)
    jwks = {"keys": public}
    cache.signing = signing
    cache.jwks = jwks
    cache.keyset = KeySet.import_key_set(jwks)
    body = json.dumps(jwks, sort_keys=True).encode()
    cache.etag = hashlib.sha256(body).hexdigest()[:32]
    cache.fingerprint = fingerprint
    cache.loaded_at = time.monotonic()


def _fresh() -> _Cache:
    cache = _cache()
    if time.monotonic() - cache.loaded_at >= CACHE_SECONDS:
        with cache.lock:
            if time.monotonic() - cache.loaded_at >= CACHE_SECONDS:
                _load(cache)
    return cache


def _private_key(row: SigningKey) -> Key:
    pem = _decrypt(row.private_key_encrypted, row.kid)
    params = {"kid": row.kid, "alg": row.alg, "use": "sig"}
    if row.alg in ("RS256", "PS256"):
        return RSAKey.import_key(pem, params)
    if row.alg == "ES256":
        return ECKey.import_key(pem, params)
    return OKPKey.import_key(pem, params)


def _create(alg: str) -> SigningKey:
    if alg not in GENERATORS:
        raise KeyServiceError(f"unsupported algorithm {alg!r}; choose among {', '.join(GENERATORS)}")
    key = GENERATORS[alg]()
    kid = f"{alg.lower()}-{utcnow():%Y%m%d}-{secrets.token_hex(4)}"
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    row = SigningKey(kid=kid, alg=alg, public_jwk=public,
                     private_key_encrypted=_encrypt(key.as_pem(private=True), kid))
    db.session.add(row)
    db.session.flush()
    return row


# -- what the rest of the server uses --------------------------------------------------------


def signing_key(alg: str) -> Key:
    """The key that signs with ``alg`` now (its ``kid`` set), created on first use."""
    cache = _fresh()
    key = cache.signing.get(alg)
    if key is None:
        if alg not in GENERATORS:
            raise KeyServiceError(f"unsupported algorithm {alg!r}")
        with cache.lock:
            _create(alg)
            db.session.commit()
            _load(cache)
        key = cache.signing[alg]
    return key


def jwks() -> tuple[dict, str]:
    """The published JWK Set and its (unquoted) ETag."""
    cache = _fresh()
    return cache.jwks, cache.etag


def public_keyset(kid: str | None = None) -> KeySet:
    """The published public keys, for verifying our own tokens.

    A ``kid`` this node has not seen yet (another node just rotated) reloads once.
    """
    cache = _fresh()
    if kid is not None and not any(k.kid == kid for k in cache.keyset.keys):
        with cache.lock:
            _load(cache)
    return cache.keyset


def list_keys() -> list[SigningKey]:
    return list(db.session.scalars(select(SigningKey).order_by(SigningKey.created_at, SigningKey.id)))


def rotate(alg: str, *, now: datetime | None = None) -> tuple[SigningKey, SigningKey | None]:
    """Make a new key for ``alg`` sign from now on; the previous one retires but stays
    published for the longest token lifetime. Returns (new, retired)."""
    now = now or utcnow()
    old = db.session.scalars(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
    ).all()
    new = _create(alg)
    for row in old:
        _retire_row(row, now)
    db.session.commit()
    invalidate()
    return new, (old[0] if old else None)


def retire(kid: str, *, now: datetime | None = None, force: bool = False) -> SigningKey:
    """Stop signing with ``kid``; it stays in the JWKS until its last token has expired.

    ``force`` unpublishes it at once (a compromised key): tokens it signed stop verifying.
    A retired key's algorithm gets a fresh key on next use.
    """
    row = db.session.scalar(select(SigningKey).where(SigningKey.kid == kid))
    if row is None:
        raise KeyServiceError(f"no key with kid {kid!r}")
    now = now or utcnow()
    if row.retired_at is None or force:
        if row.retired_at is None:
            _retire_row(row, now)
        if force:
            row.publish_until = now
        db.session.commit()
        invalidate()
    return row


def _retire_row(row: SigningKey, now: datetime) -> None:
    row.retired_at = now
    row.publish_until = now + longest_token_lifetime()


__all__ = [
    "CACHE_SECONDS", "KeyServiceError", "invalidate", "jwks", "list_keys", "longest_token_lifetime",
    "public_keyset", "retire", "rotate", "signing_key", "supported_algs",
]
