"""The grants the token endpoint accepts (RFC 6749 §4.1, §4.4, §6), as Authlib grant classes
extended with PKCE (RFC 7636, S256 only) and the OpenID Connect ID token (OIDC Core §3.1.3).
"""

from idp.oidc.grants.authorization_code import AuthorizationCodeGrant
from idp.oidc.grants.client_credentials import ClientCredentialsGrant
from idp.oidc.grants.id_token import IdToken
from idp.oidc.grants.pkce import S256CodeChallenge
from idp.oidc.grants.refresh_token import RefreshTokenGrant

__all__ = [
    "AuthorizationCodeGrant", "ClientCredentialsGrant", "IdToken", "RefreshTokenGrant",
    "S256CodeChallenge",
]
