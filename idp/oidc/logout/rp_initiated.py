"""OpenID Connect RP-Initiated Logout 1.0 on Authlib's ``EndSessionEndpoint`` (the views at
``/logout`` are :mod:`idp.oidc.views.logout`).

- §2: an ``id_token_hint`` must be an ID token we issued (our signature, our ``iss``; an
  expired one is accepted). The session ends without asking only when the hint is about this
  browser's session: its ``sid`` is the session's, or (an ID token without ``sid``) its ``sub``
  is the signed-in citizen's for that client. Without a hint, or with anyone else's ID token
  (any citizen holds their own, and a page can send it cross-site), the citizen confirms first
  (§6: otherwise anyone could sign citizens out, logout CSRF).
- §3: ``post_logout_redirect_uri`` must exactly match one registered for the client; otherwise
  no redirect, the citizen sees the "signed out" page. ``state`` is passed back.
- §4: an invalid request never redirects: a readable page, status 400.
"""

from __future__ import annotations

from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from idp.auth.sessions import current_session, end_session
from idp.keys import service as keys
from idp.oidc.errors import InvalidRequestError


class EndSessionEndpoint(_EndSessionEndpoint):
    def get_server_jwks(self):
        return keys.public_keyset()

    def get_algorithms(self) -> list[str]:
        return list(keys.supported_algs())

    def validate_request(self, request):
        data = request.payload.data
        if any(len(v) > 4096 for v in data.values()):
            raise InvalidRequestError("The logout request is too large.")
        hint = data.get("id_token_hint")
        if hint:
            try:
                typ = str(extract_compact(hint.encode()).headers().get("typ", ""))
            except (JoseError, ValueError):
                raise InvalidRequestError("The id_token_hint is not a JWT.") from None
            if typ.lower() in ("at+jwt", "application/at+jwt"):
                raise InvalidRequestError("The id_token_hint is an access token, not an ID token.")
        validated = super().validate_request(request)
        claims = validated.id_token_claims
        if claims is not None and claims.get("iss") != current_app.config["IDP"].issuer:
            raise InvalidRequestError("The id_token_hint was not issued by this provider.")
        if data.get("client_id") and validated.client is None:
            raise InvalidRequestError("Unknown client_id.")
        return validated

    def is_post_logout_redirect_uri_legitimate(self, request, post_logout_redirect_uri, client,
                                               logout_hint) -> bool:
        """Without a hint, the URI is still registered for the named client, and the citizen
        confirms before anything happens: redirecting there afterwards is safe."""
        return True

    def end_session(self, end_session_request) -> None:
        session = current_session()
        if session is not None:
            end_session(session, "logout")
