"""The audit log: every security event, as a hash chain that shows tampering.

``record`` (in :mod:`idp.audit.log`) writes an event; ``idp audit`` (:mod:`idp.audit.cli`)
lets an operator read, verify and export the chain.
"""

from __future__ import annotations

from flask import Flask

from idp.audit.cli import audit


def init_app(app: Flask) -> None:
    app.cli.add_command(audit)
