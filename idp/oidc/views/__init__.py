"""The Flask views of the OpenID Connect endpoints, all on the ``oidc`` blueprint: each checks
what only HTTP can (size, shape, CSRF exemption) and hands the request to the Authlib server
(:mod:`idp.oidc.server`), which runs the grants and endpoint classes.

Importing this package puts every route on :data:`bp` (Flask's decorators run at import).
"""

from idp.oidc.blueprint import bp
from idp.oidc.views import authorize, ciba, discovery, logout, registration, token, userinfo

#: The modules whose routes are on :data:`bp`.
MODULES = (authorize, ciba, discovery, logout, registration, token, userinfo)

__all__ = ["MODULES", "bp"]
