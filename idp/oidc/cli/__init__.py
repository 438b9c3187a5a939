"""``idp`` commands of the OpenID Connect provider: ``idp logout-queue`` and
``idp token-exchange``, ``idp ciba`` (clients themselves are managed by ``idp clients``, :mod:`idp.admin`)."""

from idp.oidc.cli.ciba import ciba_cli
from idp.oidc.cli.logout_queue import logout_queue_cli
from idp.oidc.cli.token_exchange import token_exchange_cli

COMMANDS = (ciba_cli, logout_queue_cli, token_exchange_cli)

__all__ = ["COMMANDS"]
