"""The one list of JWS algorithms idp signs with and accepts (RFC 7518 §3.1, RFC 8037 §3.1):
ID tokens (``IDP_SIGNING_ALG``, a client's ``id_token_signed_response_alg``), JWT access tokens
(``IDP_ACCESS_TOKEN_ALG``, RFC 9068), logout tokens, the keys ``idp keys`` can make
(:data:`idp.keys.service.GENERATORS`), and the ``private_key_jwt`` client assertions it verifies
(RFC 7523 §3, :mod:`idp.oidc.clients.authentication`; advertised in discovery). Asymmetric only: never
``none`` nor an HMAC (RFC 9700 §2.4 / RFC 8725 §3.1-3.2). Add an algorithm here and everything
that signs or verifies offers it.
"""

from __future__ import annotations

SIGNING_ALGS: tuple[str, ...] = ("RS256", "PS256", "ES256", "EdDSA")
