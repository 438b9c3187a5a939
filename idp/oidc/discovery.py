"""Provider metadata: OpenID Connect Discovery 1.0 §3 at ``/.well-known/openid-configuration``
and OAuth 2.0 Authorization Server Metadata (RFC 8414 §2) at
``/.well-known/oauth-authorization-server``: one document, built once per app and served from
memory with an ETag (:mod:`idp.public_documents`, which both paths answer from: the views of
:mod:`idp.oidc.views.discovery` and :mod:`idp.fastpath`). Everything advertised works; nothing
else does."""

from __future__ import annotations

from flask import current_app

from idp.auth import assurance
from idp.keys import service as keys
from idp.oidc.authorization.response_modes import RESPONSE_MODES
from idp.oidc.clients.authentication import ALGORITHMS as ASSERTION_ALGS
from idp.oidc.clients.registry import AUTH_METHODS
from idp.oidc.endpoints.introspection import CLIENT_AUTH_METHODS as INTROSPECTION_AUTH
from idp.oidc.endpoints.revocation import RevocationEndpoint
from idp.oidc.grants import ciba
from idp.oidc.grants.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE
from idp.oidc.scopes import SCOPES, SERVICE_SCOPES, all_claims

MAX_AGE = 3600


def metadata() -> dict:
    settings = current_app.config["IDP"]
    issuer = settings.issuer
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "end_session_endpoint": f"{issuer}/logout",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "scopes_supported": [*SCOPES, *SERVICE_SCOPES],
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                  TOKEN_EXCHANGE, ciba.GRANT_TYPE],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": list(keys.supported_algs()),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "introspection_endpoint_auth_methods_supported": list(INTROSPECTION_AUTH),
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "revocation_endpoint_auth_methods_supported": list(RevocationEndpoint.CLIENT_AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": all_claims() + ["iss", "aud", "exp", "iat", "auth_time", "nonce", "acr",
                                            "amr", "sid", "at_hash"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page", "popup", "touch"],
        "acr_values_supported": assurance.supported_values(),
        "ui_locales_supported": list(settings.languages),
        "claims_locales_supported": list(settings.languages),
        "access_token_signing_alg_values_supported": [settings.access_token_alg],
        # OpenID Connect Back-Channel Logout 1.0 §2.1 and Front-Channel Logout 1.0 §3.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        # OpenID Connect CIBA Core 1.0 §4.
        "backchannel_authentication_endpoint": f"{issuer}/bc-authorize",
        "backchannel_token_delivery_modes_supported": list(ciba.DELIVERY_MODES),
        "backchannel_user_code_parameter_supported": False,
    }
    if settings.dynamic_registration:
        # RFC 8414 §2 / OIDC Discovery §3: only when /connect/register works (RFC 7591, for the
        # trusted onboarding system holding an initial access token).
        document["registration_endpoint"] = f"{issuer}/connect/register"
    return document
