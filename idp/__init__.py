"""idp: a national electronic identification and authentication server (OpenID Connect).

``gunicorn 'idp:create_app()'`` serves it; ``idp --help`` administers it.
"""

from idp.app import create_app

__all__ = ["create_app"]
