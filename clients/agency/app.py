"""An agency system (sample relying party: the land registry): pairwise ``sub``, asks for the
profile, for the organisation the citizen acts for (``organization``: the page shows whose
business it serves), and for assurance ``urn:idp:acr:substantial`` (``acr_values``). Run like the portal,
with RP_CLIENT_ID=demo-agency and its own RP_BASE_URL (``./scripts/run`` does it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relying_party import create_rp_app, serve

ACR = "urn:idp:acr:substantial"


def create_app(environ=None):
    env = os.environ if environ is None else environ
    return create_rp_app(title="Land Registry (demo agency)",
                         tagline="Register and look up land-use rights.",
                         scope="openid profile organization", colour="#064", acr_values=ACR, environ=env)


if __name__ == "__main__":
    serve(create_app(), os.environ["RP_BASE_URL"])
