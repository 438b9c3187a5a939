"""idp: a national electronic identification and authentication server (OpenID Connect).

The container image serves it with granian (``granian --factory idp:create_app``, see the
Dockerfile); ``gunicorn -c gunicorn.conf.py 'idp:create_app()'`` and ``idp serve`` are the
alternatives. ``idp --help`` administers it; docs/architecture.md maps the packages.
"""

from idp.app import create_app

__all__ = ["create_app"]
