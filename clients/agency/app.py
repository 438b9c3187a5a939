"""An agency system (sample relying party: the land registry): pairwise ``sub``, asks for the
profile, for the organisation the citizen acts for (``organization``: the page shows whose
business it serves), and for assurance ``urn:idp:acr:substantial`` (``acr_values``). Run like the portal,
with RP_CLIENT_ID=demo-agency and its own RP_BASE_URL (``./scripts/run`` does it). Its
``/caller`` page confirms a caller's identity on their phone (CIBA, :mod:`caller_check`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agency.caller_check import caller_check
from relying_party import create_rp_app, serve

ACR = "urn:idp:acr:substantial"


def create_app(environ=None):
    env = os.environ if environ is None else environ
    app = create_rp_app(title="Land Registry (demo agency)",
                        tagline="Register and look up land-use rights.",
                        scope="openid profile organization", colour="#064", acr_values=ACR, environ=env,
                        links=[("Call centre: confirm the identity of a caller", "/caller")])
    app.register_blueprint(caller_check(issuer=env["RP_ISSUER"].rstrip("/"), client_id=env["RP_CLIENT_ID"],
                                        client_secret=env["RP_CLIENT_SECRET"]))
    return app


if __name__ == "__main__":
    serve(create_app(), os.environ["RP_BASE_URL"])
