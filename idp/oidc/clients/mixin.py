"""What Authlib asks of a client (``authlib.oauth2.rfc6749.ClientMixin``), answered from the
registration in :class:`idp.oidc.models.Client`."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin

from idp.oidc.clients.secrets import check_secret


class OAuthClientMixin(ClientMixin):
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """OIDC Core §3.1.2.1: ``redirect_uri`` is REQUIRED, so there is no default."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """RFC 6749 §3.3: the granted scope is the requested one within what the client may ask."""
        allowed = set(self.scope.split())
        if not scope:
            return ""
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """RFC 9700 §4.1.3: exact string comparison against the registration."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(self, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The client authenticates at every endpoint with the one method it registered."""
        return self.token_endpoint_auth_method == method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
