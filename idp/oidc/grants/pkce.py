"""PKCE (RFC 7636) with S256 only: ``plain`` offers no protection once the authorization
request can be read (RFC 9700 §2.1.1), so it is refused at the authorization endpoint and
never assumed as a default here."""

from __future__ import annotations

from authlib.oauth2.rfc7636 import CodeChallenge


class S256CodeChallenge(CodeChallenge):
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}
