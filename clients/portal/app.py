"""The national service portal (sample relying party): public ``sub``, asks for the profile
and the national identifier; "Act for your organisation" asks for ``organization`` too.
Run: RP_ISSUER=... RP_CLIENT_ID=demo-portal RP_CLIENT_SECRET=...
RP_BASE_URL=http://127.0.0.1:8001 python clients/portal/app.py (``./scripts/run`` does it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relying_party import create_rp_app, serve


def create_app(environ=None):
    env = os.environ if environ is None else environ
    links = [("Land registry (agency system)", env["RP_AGENCY_URL"])] if env.get("RP_AGENCY_URL") else []
    return create_rp_app(title="National Public Service Portal (demo)",
                         tagline="One sign-in for every public service.",
                         scope="openid profile national_id", colour="#b00", links=links,
                         org_sign_in=True, environ=env)


if __name__ == "__main__":
    serve(create_app(), os.environ["RP_BASE_URL"])
