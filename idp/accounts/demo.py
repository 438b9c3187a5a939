"""Demo data for the sandbox (``./scripts/run``): the sample registry and one citizen.

Everyone in the sample registry is fictional (real province codes, invented people). The demo
citizen gets a known password so anyone trying the server can sign in at once; the other
registry people are there to try self-registration.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from idp.accounts import services
from idp.citizens import lookup, registry
from idp.citizens.models import LEVEL_VERIFIED
from idp.db import db

DEMO_IDENTIFIER = "001085888274"
DEMO_PASSWORD = "hoa-sen-demo-2025"  # noqa: S105 - published on purpose: sandbox only
DEMO_EMAIL = "an.nguyen@example.vn"
DEMO_PHONE = "+84912345678"


def load(registry_csv: Path) -> str:
    """Import ``registry_csv`` and create the demo citizen if missing (idempotent).

    Returns what to tell the person who started the server.
    """
    with open(registry_csv, encoding="utf-8-sig", newline="") as handle:
        result = registry.import_csv(handle, current_app.config["IDP"].identifier_scheme)
    if result.errors:
        db.session.rollback()
        raise ValueError(f"{registry_csv}: " + "; ".join(result.errors))
    entry = registry.lookup("vn-pin", DEMO_IDENTIFIER)
    if lookup.find_citizen(DEMO_EMAIL) is None:
        services.create_citizen_from_registry(entry, DEMO_PASSWORD, email=DEMO_EMAIL,
                                               phone=DEMO_PHONE, level=LEVEL_VERIFIED, actor="system")
    db.session.commit()
    issuer = current_app.config["IDP"].issuer
    return (f"demo registry: {result.created + result.updated} fictional people "
            f"(register any of them at {issuer}/register)\n"
            f"demo sign-in:  {issuer}/login  username {DEMO_IDENTIFIER} (or {DEMO_EMAIL})  "
            f"password {DEMO_PASSWORD}")
