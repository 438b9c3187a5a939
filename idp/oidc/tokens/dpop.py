"""DPoP: sender-constrained access tokens (RFC 9449).

A client proves possession of a private key with a ``DPoP`` header (a signed JWT, the proof)
on every token request and every resource request. :func:`verify_proof` applies RFC 9449 §4.3
in full: exactly one header, ``typ`` ``dpop+jwt``, an asymmetric algorithm from
:data:`ALGORITHMS` with the public key in ``jwk`` (never a private or symmetric one), a valid
signature, ``htm`` and ``htu`` naming this very request, ``iat`` within :data:`MAX_AGE`
seconds (:data:`FUTURE_SKEW` into the future), ``jti`` never seen before (across nodes:
:mod:`idp.oidc.tokens.replay`), at a resource ``ath`` = the hash of the presented token (§4.3
item 11) and the key the token is bound to (``cnf.jkt``, §6.1); and, with ``IDP_DPOP_NONCE``,
a ``nonce`` this server issued (§8, §9: refused with ``use_dpop_nonce`` and a fresh
``DPoP-Nonce``). Nonces are stateless: a timestamp and its HMAC under the app's secret key,
good for :data:`NONCE_LIFETIME` seconds on every node sharing ``IDP_SECRET_KEY``.

At the token endpoint (§5) the access token is issued with ``token_type: DPoP`` and
``cnf.jkt`` (the key's RFC 7638 thumbprint), and a public client's refresh token family is
bound to the key (§5, the refresh must be proven with it). A client registered with
``dpop_bound_access_tokens`` (``--require-dpop``, or the ``fapi2`` profile) gets no token
without a proof (§5.2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2.signals import client_authenticated
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from flask import current_app, g, request
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from idp import clock
from idp.oidc.clients.fapi2 import ALGORITHMS as FAPI_ALGORITHMS
from idp.oidc.clients.fapi2 import is_fapi2
from idp.oidc.models import RefreshTokenFamily
from idp.oidc.tokens.replay import first_use

#: Asymmetric algorithms only (§4.2: MUST NOT be none or a MAC), each with its key type.
ALGORITHMS = {"ES256": ("EC", "P-256"), "PS256": ("RSA", None), "EdDSA": ("OKP", "Ed25519")}
#: FAPI 2.0 Security Profile §5.4.1: what a fapi2 client may sign with.
FAPI2_ALGORITHMS = FAPI_ALGORITHMS
MAX_AGE = 60
FUTURE_SKEW = 5
NONCE_LIFETIME = 300
MAX_PROOF_LENGTH = 8192
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")


class InvalidDPoPProof(OAuth2Error):
    """RFC 9449 §5 (token endpoint, 400) and §7.1 (resource, 401 with a DPoP challenge)."""

    error = "invalid_dpop_proof"
    status_code = 400


class UseDPoPNonce(OAuth2Error):
    """RFC 9449 §8 / §9: retry with the nonce in the ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    status_code = 400

    def get_headers(self):
        return [*super().get_headers(), ("DPoP-Nonce", new_nonce())]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_hash(token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url of the SHA-256 of the token's ASCII octets."""
    return _b64(hashlib.sha256(token.encode("ascii", "replace")).digest())


def _nonce_mac(stamp: str) -> str:
    key = hashlib.sha256(b"dpop-nonce\x00" + current_app.secret_key.encode()).digest()
    return _b64(hmac.new(key, stamp.encode(), hashlib.sha256).digest()[:18])


def new_nonce() -> str:
    stamp = str(int(clock.time()))
    return f"{stamp}.{_nonce_mac(stamp)}"


def nonce_ok(nonce) -> bool:
    if not isinstance(nonce, str) or len(nonce) > 64 or "." not in nonce:
        return False
    stamp, _, mac = nonce.partition(".")
    if not stamp.isdigit() or not hmac.compare_digest(mac, _nonce_mac(stamp)):
        return False
    age = clock.time() - int(stamp)
    return -FUTURE_SKEW <= age <= NONCE_LIFETIME


def nonce_required() -> bool:
    return bool(current_app.config["IDP"].dpop_nonce)


def same_url(htu, url: str) -> bool:
    """RFC 9449 §4.3 item 9: ``htu`` names this URI, without query and fragment (scheme and
    host compared case-insensitively, RFC 3986 §6.2.2)."""
    if not isinstance(htu, str) or len(htu) > 2048:
        return False
    a, b = urlsplit(htu), urlsplit(url)
    return (a.scheme.lower(), (a.netloc or "").lower(), a.path or "/") == \
        (b.scheme.lower(), (b.netloc or "").lower(), b.path or "/")


def presented_proof() -> str | None:
    """The request's DPoP proof, or None without one; more than one is an invalid proof."""
    values = request.headers.getlist("DPoP")
    if not values:
        return None
    if len(values) > 1 or not values[0] or len(values[0]) > MAX_PROOF_LENGTH:
        raise InvalidDPoPProof("Send exactly one DPoP proof.")
    return values[0]


def request_url() -> str:
    """This request's public URL (the issuer's origin: behind a proxy the WSGI URL is http)."""
    return current_app.config["IDP"].issuer + request.path


def verify_proof(proof: str, method: str, url: str, *, access_token: str | None = None,
                 algorithms=tuple(ALGORITHMS)) -> str:
    """RFC 9449 §4.3: the proof's key thumbprint (``jkt``), or :class:`InvalidDPoPProof` /
    :class:`UseDPoPNonce`."""
    try:
        header = jws.extract_compact(proof.encode()).headers()
    except (JoseError, ValueError, UnicodeError):
        raise InvalidDPoPProof("The DPoP proof is not a JWT.") from None
    alg, jwk = header.get("alg"), header.get("jwk")
    if header.get("typ") != "dpop+jwt":
        raise InvalidDPoPProof("The DPoP proof must be typed dpop+jwt.")
    if alg not in ALGORITHMS or alg not in algorithms:
        raise InvalidDPoPProof(f"DPoP proofs are signed with one of {' '.join(algorithms)}.")
    if not isinstance(jwk, dict) or any(m in jwk for m in PRIVATE_MEMBERS):
        raise InvalidDPoPProof("The DPoP proof must carry its public key in 'jwk'.")
    kty, crv = ALGORITHMS[alg]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise InvalidDPoPProof("The DPoP key does not match the algorithm.")
    try:
        key = import_key(jwk)
        if kty == "RSA" and key.raw_value.key_size < 2048:
            raise InvalidDPoPProof("RSA DPoP keys need at least 2048 bits.")
        token = jws.deserialize_compact(proof, key, algorithms=[alg])
        claims = json.loads(token.payload)
    except (JoseError, ValueError, TypeError, KeyError, UnicodeError):
        raise InvalidDPoPProof("The DPoP proof signature is invalid.") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("The DPoP proof has no claims.")
    if claims.get("htm") != method:
        raise InvalidDPoPProof("The DPoP proof is for another HTTP method (htm).")
    if not same_url(claims.get("htu"), url):
        raise InvalidDPoPProof("The DPoP proof is for another URL (htu).")
    iat, now = claims.get("iat"), clock.time()
    if not isinstance(iat, int | float) or isinstance(iat, bool) or \
            not now - MAX_AGE <= iat <= now + FUTURE_SKEW:
        raise InvalidDPoPProof("The DPoP proof is too old or from the future (iat).")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidDPoPProof("The DPoP proof is for another access token (ath).")
    if nonce_required() and not nonce_ok(claims.get("nonce")):
        raise UseDPoPNonce("Use the server's DPoP nonce.")
    jkt = key.thumbprint()
    if not first_use("dpop", jkt, claims.get("jti"), iat + MAX_AGE + FUTURE_SKEW):
        raise InvalidDPoPProof("The DPoP proof was already used, or has no jti.")
    return jkt


# -- the token endpoint (RFC 9449 §5) ---------------------------------------------------------


def token_request_key() -> str | None:
    """The token request's proven key thumbprint (kept in ``g`` for the token generator), or
    None without a proof. Raises the proof's error."""
    proof = presented_proof()
    if proof is None:
        return None
    g.idp_dpop_jkt = verify_proof(proof, "POST", request_url())
    g.idp_dpop_alg = jws.extract_compact(proof.encode()).headers().get("alg")
    return g.idp_dpop_jkt


def pushed_request_key() -> str | None:
    """RFC 9449 §10.1: a DPoP proof sent to /par (its key binds the code), or None."""
    proof = presented_proof()
    return None if proof is None else verify_proof(proof, "POST", request_url())


def code_key_matches(code) -> bool:
    """RFC 9449 §10: a code bound to a key is redeemed only with a proof of that key."""
    return code.dpop_jkt is None or code.dpop_jkt == proven_key()


def proven_key() -> str | None:
    """The key this token request proved, if any (outside a request: None)."""
    return g.get("idp_dpop_jkt") if g else None


def requires_dpop(client) -> bool:
    return bool(getattr(client, "dpop_bound_access_tokens", False))


def _require_proof(sender, client=None, grant=None, **_kwargs) -> None:
    """RFC 9449 §5.2 (``dpop_bound_access_tokens``): refuse a token request of such a client
    without a proof, once the client is known and before its grant does anything."""
    if client is None:
        return
    if requires_dpop(client) and proven_key() is None:
        raise InvalidRequestError("This client must send a DPoP proof (RFC 9449).")
    if is_fapi2(client) and proven_key() is not None and g.get("idp_dpop_alg") not in FAPI2_ALGORITHMS:
        raise InvalidDPoPProof(f"This client signs DPoP proofs with {' or '.join(FAPI2_ALGORITHMS)}.")


client_authenticated.connect(_require_proof, weak=False)


def family_key(client) -> str | None:
    """RFC 9449 §5: the key a new family of refresh tokens is bound to: a public client's are
    bound to the key of the proof that obtained them (a confidential client's are bound by
    its authentication already)."""
    return proven_key() if client.is_public else None


def refresh_allowed(family: RefreshTokenFamily) -> bool:
    """A bound family's refresh token is usable only with a proof of its key."""
    return family.dpop_jkt is None or family.dpop_jkt == proven_key()


# -- at a protected resource (RFC 9449 §7) ------------------------------------------------------


def check_resource_proof(token_string: str, claims) -> None:
    """``Authorization: DPoP <token>`` with a proof of the key the token is bound to."""
    cnf = claims.get("cnf") if hasattr(claims, "get") else None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not jkt:
        raise InvalidDPoPProof("This access token is not DPoP-bound: present it as a Bearer token.")
    proof = presented_proof()
    if proof is None:
        raise InvalidDPoPProof("A DPoP proof is required with a DPoP-bound access token.")
    if verify_proof(proof, request.method, request_url(), access_token=token_string) != jkt:
        raise InvalidDPoPProof("The DPoP proof is signed by another key than the token's (cnf.jkt).")


def challenge(error: str | None = None) -> str:
    """RFC 9449 §7.1: the ``WWW-Authenticate: DPoP`` challenge."""
    value = f'DPoP algs="{" ".join(ALGORITHMS)}"'
    return value + (f', error="{error}"' if error else "")
