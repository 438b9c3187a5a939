"""JWT access tokens (RFC 9068), issued through Authlib's generator and checked by
:class:`AccessTokenValidator` wherever a token is presented (UserInfo, introspection, the
APIs protected by :mod:`idp.oidc.tokens.resource`).

Claims: ``iss``, ``sub`` (the citizen's pairwise identifier, or the client's id when no citizen
is involved, §2.2), ``aud`` (this server's APIs: the issuer), ``client_id``, ``scope``, ``jti``,
``iat``, ``exp``, and for a citizen ``auth_time``, ``acr``, ``amr``. No personal data: agencies
read these tokens offline. Signed with ``IDP_ACCESS_TOKEN_ALG`` (ES256 by default) and typed
``at+jwt`` (§2.1).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import UTC, datetime

from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from sqlalchemy import delete, select

from idp.db import db
from idp.db.single_read import single_read_connection
from idp.db.types import utcnow
from idp.keys import compact_jws
from idp.keys import service as keys
from idp.oidc.clients.registry import get_client, token_standing
from idp.oidc.models import RevokedAccessToken
from idp.oidc.tokens.acting import still_holds

MAX_TOKEN_LENGTH = 4096
#: Pass as ``audience`` to accept a token whatever its ``aud``; the caller then decides who may
#: see it (introspection: the client it was issued to, or one it is addressed to).
ANY_AUDIENCE = "*"
CLOCK_SKEW = 60


def _settings():
    return current_app.config["IDP"]


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator with our keys, lifetimes and citizen claims."""

    def __init__(self, issuer: str, alg: str, access_ttl: int):
        super().__init__(issuer=issuer, alg=alg,
                         refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
                         expires_generator=lambda client, grant_type: access_ttl)

    def get_audiences(self, client, user, scope):
        """RFC 9068 §3: without a ``resource`` parameter, a default resource: this server's APIs."""
        return self.issuer

    def get_jti(self, client, grant_type, user, scope) -> str:
        return secrets.token_urlsafe(18)

    def get_auth_time(self, user):
        return int(user.auth_time.timestamp()) if user else None

    def get_acr(self, user):
        return user.acr if user else None

    def get_amr(self, user):
        return list(user.amr) if user and user.amr else None

    def get_extra_claims(self, client, grant_type, user, scope):
        """The acting context (``org`` or ``act``, :mod:`idp.oidc.tokens.acting`) and, RFC 9449
        §6.1, for a token requested with a DPoP proof, the key it is bound to (``cnf``)."""
        from idp.oidc.tokens.dpop import proven_key

        claims = dict(getattr(user, "context", None) or {})
        jkt = proven_key()
        if jkt:
            claims["cnf"] = {"jkt": jkt}
        return claims

    def access_token_generator(self, client, grant_type, user, scope):
        """Authlib's claims (RFC 9068 §2.2, in its order), signed by :mod:`idp.keys.compact_jws`
        rather than by a ``jwt.encode`` that re-checks a fixed header on every token."""
        now = int(time.time())
        client_id = client.get_client_id()
        claims = {
            "iss": self.issuer,
            "exp": now + self._get_expires_in(client, grant_type),
            "client_id": client_id,
            "iat": now,
            "jti": self.get_jti(client, grant_type, user, scope),
            "scope": scope,
            "sub": str(user.get_user_id()) if user else client_id,
            "aud": self.get_audiences(client, user, scope),
        }
        if auth_time := self.get_auth_time(user):
            claims["auth_time"] = auth_time
        if acr := self.get_acr(user):
            claims["acr"] = acr
        if amr := self.get_amr(user):
            claims["amr"] = amr
        claims.update(self.get_extra_claims(client, grant_type, user, scope))
        token = compact_jws.sign(claims, alg=self.alg, typ="at+jwt")
        _last_made.token, _last_made.claims = token, claims
        return token

    def generate(self, *args, **kwargs):
        """RFC 9449 §5: a key-bound token is announced as ``token_type: DPoP``."""
        from idp.oidc.tokens.dpop import proven_key

        token = super().generate(*args, **kwargs)
        if proven_key():  # what get_extra_claims bound the token to (cnf)
            token["token_type"] = "DPoP"  # noqa: S105
        return token


#: The access token this thread made last, with its claims: the token endpoint reads them
#: back right after (:func:`unverified_claims`), on every token it answers.
_last_made = threading.local()


def unverified_claims(token: str) -> dict:
    """The payload of one of our own freshly made JWTs (to record its ``jti`` and ``exp``):
    the claims the generator signed when ``token`` is the one this thread just made (not to
    be changed), else decoded from it."""
    if getattr(_last_made, "token", None) is token:
        return _last_made.claims
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def revoke(jti: str, exp: int | datetime, reason: str) -> None:
    """RFC 7009 §2: the access token stops working; remembered until it would have expired."""
    revoke_many([(jti, exp)], reason)


def revoke_many(tokens, reason: str) -> int:
    """:func:`revoke` for several ``(jti, exp)`` at once (a grant or an account ending); how many
    were not revoked yet. Caller commits."""
    now = utcnow()
    wanted = {}
    for jti, exp in tokens:
        expires_at = exp if isinstance(exp, datetime) else datetime.fromtimestamp(exp, UTC)
        if expires_at > now:
            wanted[jti] = expires_at
    if not wanted:  # a session ending with nothing issued in it writes nothing
        return 0
    # Rows of tokens that have expired anyway are no longer needed.
    db.session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < now))
    known = set(db.session.scalars(select(RevokedAccessToken.jti)
                                   .where(RevokedAccessToken.jti.in_(list(wanted)))))
    added = [RevokedAccessToken(jti=jti, expires_at=expires_at, reason=reason)
             for jti, expires_at in wanted.items() if jti not in known]
    db.session.add_all(added)
    return len(added)


class VerifiedSignatures:
    """Access tokens whose signature this process has already checked, with their header and
    claims: a resource server presents the same token on every call it makes, and the ECDSA or
    RSA verification is the most expensive step of checking it.

    An entry only says "this exact string carries a valid signature under this key set", which
    stays true; it is used only while the key cache still holds that same key set object (any
    key added, retired or withdrawn builds a new one, :mod:`idp.keys.service`), so a withdrawn
    key stops validating its tokens exactly as soon as without this cache. Everything else
    (expiry, revocation, the client still enabled) is checked on every use. At most
    :data:`SIZE` entries; the oldest go first.
    """

    SIZE = 4096

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str | None, KeySet, tuple[dict, dict]]] = {}

    def get(self, token: str) -> tuple[dict, dict] | None:
        """The header and claims of ``token`` if its signature was checked under the key set
        the key cache holds now. Needs an app context."""
        entry = self._entries.get(token)
        if entry is None or entry[1] is not keys.public_keyset(entry[0]):
            return None
        return entry[2]

    def put(self, token: str, kid: str | None, keyset: KeySet, verified: tuple[dict, dict]) -> None:
        while len(self._entries) >= self.SIZE:
            try:
                del self._entries[next(iter(self._entries))]
            except (KeyError, RuntimeError, StopIteration):  # another thread evicted it first
                break
        self._entries[token] = (kid, keyset, verified)


verified_signatures = VerifiedSignatures()


class AccessTokenValidator(JWTBearerTokenValidator):
    """RFC 9068 §4 validation: our signature (by ``kid``, allowed algorithm only), ``typ``,
    ``iss``, ``aud``, ``exp``; then not revoked and its client still enabled."""

    def __init__(self, audience: str | None = None):
        # Authlib's __init__ would pin issuer and audience; ours follow the running app.
        # ``ANY_AUDIENCE``: the caller checks the audience itself (introspection, token exchange).
        BearerTokenValidator.__init__(self)
        self._audience = audience

    @property
    def issuer(self) -> str:
        return _settings().issuer

    @property
    def resource_server(self) -> str:
        return self._audience or _settings().issuer

    def authenticate_token(self, token_string):
        if not token_string or len(token_string) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError(realm=self.realm)
        verified = verified_signatures.get(token_string)
        if verified is None:  # never checked here, or under another key set: check it now
            verified = self._verify(token_string)
        header, claims = verified
        return JWTAccessTokenClaims(claims, header, {
            "iss": {"essential": True, "value": self.issuer},
            "exp": {"essential": True},
            "aud": {"essential": True} if self._audience == ANY_AUDIENCE else
                   {"essential": True, "value": self.resource_server},
            "sub": {"essential": True},
            "client_id": {"essential": True},
            "iat": {"essential": True},
            "jti": {"essential": True},
        })

    def _verify(self, token_string: str) -> tuple[dict, dict]:
        """Header and signature (remembered in :data:`verified_signatures` once good)."""
        try:
            header = extract_compact(token_string.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError(realm=self.realm) from exc
        alg = _settings().access_token_alg
        # RFC 9068 §4: reject anything but the algorithm we sign access tokens with, and
        # tokens not typed at+jwt (an ID token must never pass as an access token).
        if header.get("alg") != alg or str(header.get("typ", "")).lower() not in (
                "at+jwt", "application/at+jwt"):
            raise InvalidTokenError(realm=self.realm)
        kid = header.get("kid")
        keyset = keys.public_keyset(kid)
        try:
            token = jwt.decode(token_string, keyset, algorithms=[alg])
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError(realm=self.realm) from exc
        verified = (token.header, token.claims)
        verified_signatures.put(token_string, kid, keyset, verified)
        return verified

    def validate_token(self, token, scopes, request, **kwargs):
        self.validate_claims(token, scopes, request, **kwargs)
        with single_read_connection() as connection:  # none checked out when the cache answers
            revoked, locked = token_standing(connection, token["jti"], token["sub"])
        self.check_live(token, revoked=revoked, locked=locked, client=get_client(token["client_id"]),
                        represented=still_holds(token))

    def validate_claims(self, token, scopes=None, request=None, **kwargs) -> None:
        """RFC 9068 §4 on the claims alone (``exp``, ``iss``, ``aud``..., and ``scopes``):
        Authlib's check, without what needs the database (:meth:`check_live`)."""
        super().validate_token(token, scopes, request, **kwargs)

    def check_live(self, token, *, revoked: bool, locked: bool, client, represented: bool = True) -> None:
        """What the signature cannot say: the token was not revoked, the citizen's account is
        not locked (RFC 9700 §4.14, ASVS 3.3: a locked account's tokens stop working at once,
        whatever was revoked), the acting context it carries still holds (``represented``,
        :func:`idp.oidc.tokens.acting.still_holds`: a removed member, a child now of age), and its
        client (None when unknown or disabled) is still registered, under the same
        registration."""
        if revoked:
            raise InvalidTokenError(realm=self.realm, description="The token was revoked.")
        if locked or not represented:
            # Worded like a revocation: the relying party learns nothing about the account.
            raise InvalidTokenError(realm=self.realm, description="The token is no longer valid.")
        if client is None:
            raise InvalidTokenError(realm=self.realm, description="The client is disabled.")
        iat = token["iat"]
        if not isinstance(iat, int | float) or iat < client.created_at.timestamp() - CLOCK_SKEW:
            # Issued to a deleted client whose id was registered again since (node clocks may
            # differ by up to CLOCK_SKEW seconds).
            raise InvalidTokenError(realm=self.realm, description="The token was issued to another client.")


def check_access_token(token_string: str, scopes=None, audience: str | None = None):
    """Validate a presented access token; returns its claims or raises InvalidTokenError."""
    validator = AccessTokenValidator(audience)
    claims = validator.authenticate_token(token_string)
    validator.validate_token(claims, scopes, None)
    return claims
