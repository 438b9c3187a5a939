"""Demo data for the sandbox (``./scripts/run``): the fictional organisations and the parent
and child of ``scripts/`` (``demo_organisations.csv``, ``demo_relations.csv``), loaded after
the population registry. The demo citizen An is the legal representative of
"Công ty TNHH Phần mềm Sao Mai (demo)" and can activate it from the account pages."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from idp.db import db
from idp.orgs import registry, relations

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load() -> str:
    """Demo loader (``app.extensions["idp.demo_loaders"]``); nothing when the files are absent
    (an installed package has no ``scripts/``)."""
    organisations, people = SCRIPTS / "demo_organisations.csv", SCRIPTS / "demo_relations.csv"
    if not organisations.exists() or not people.exists():
        return "demo organisations: scripts/demo_organisations.csv not found, none loaded"
    with open(organisations, encoding="utf-8-sig", newline="") as handle:
        orgs = registry.import_csv(handle)
    with open(people, encoding="utf-8-sig", newline="") as handle:
        pairs = relations.import_csv(handle, current_app.config["IDP"].identifier_scheme)
    if orgs.errors or pairs.errors:
        db.session.rollback()
        raise ValueError("demo organisations: " + "; ".join(orgs.errors + pairs.errors))
    db.session.commit()
    return (f"demo organisations: {orgs.created + orgs.updated} (activate yours at "
            f"{current_app.config['IDP'].issuer}/account/acting-for)")
