"""The FAPI 2.0 Security Profile (OpenID Foundation, final) as a client profile: what a client
registered with ``--profile fapi2`` gets, enforced by the server.

At registration (:func:`apply`): ``private_key_jwt`` only (§5.3.2.1 item 4 of the profile:
mTLS or private_key_jwt; this server offers the latter), pushed authorization requests
required (§5.3.2.2 item 2), DPoP-bound access tokens (§5.3.2.1 item 1, sender-constrained),
ID tokens signed with ES256 or PS256 (§5.4.1), the code flow only.
At run time: PKCE S256 required (§5.3.2.2 item 4, :mod:`idp.oidc.authorization_request`),
authorization codes live at most :data:`MAX_CODE_LIFETIME` seconds (§5.3.2.1 item 10),
request objects, DPoP proofs and client assertions signed with :data:`ALGORITHMS` only
(§5.4.1). ``iss`` is in every authorization response (RFC 9207, always on), errors of a
pushed request are answered at ``/par`` and never downgraded to the query of a front-channel
redirect, and refresh tokens rotate as for every client.
"""

from __future__ import annotations

PROFILE = "fapi2"
PROFILES = (PROFILE,)
ALGORITHMS = ("ES256", "PS256")
MAX_CODE_LIFETIME = 60


def is_fapi2(client) -> bool:
    return getattr(client, "profile", None) == PROFILE


def requires_par(client) -> bool:
    from flask import current_app

    return (is_fapi2(client) or bool(getattr(client, "require_pushed_authorization_requests", False))
            or bool(current_app.config["IDP"].require_pushed_authorization_requests))


def requires_pkce(client) -> bool:
    return is_fapi2(client) or client.is_public


def code_lifetime(client, configured: int) -> int:
    return min(configured, MAX_CODE_LIFETIME) if is_fapi2(client) else configured


def apply(meta: dict, given: dict, error) -> dict:
    """Registration rules of the profile on validated ``meta`` (``given``: what the caller set
    explicitly); ``error`` is the exception to raise. Returns ``meta``."""
    profile = meta.get("profile")
    if profile is None:
        return meta
    if profile not in PROFILES:
        raise error(f"profile must be one of {', '.join(PROFILES)}")
    if meta["token_endpoint_auth_method"] != "private_key_jwt":  # noqa: S105
        raise error("the fapi2 profile authenticates clients with private_key_jwt only "
                    "(--auth-method private_key_jwt and --jwks-file or --jwks-uri)")
    for flag in ("require_pushed_authorization_requests", "dpop_bound_access_tokens"):
        if given.get(flag) is False:
            raise error(f"the fapi2 profile requires {flag}")
        meta[flag] = True
    if set(meta["grant_types"]) - {"authorization_code", "refresh_token"}:
        raise error("the fapi2 profile allows the authorization_code and refresh_token grants only")
    alg = meta.get("id_token_signed_response_alg")
    if alg is None:
        meta["id_token_signed_response_alg"] = ALGORITHMS[0]
    elif alg not in ALGORITHMS:
        raise error(f"the fapi2 profile signs ID tokens with {' or '.join(ALGORITHMS)} only")
    return meta
