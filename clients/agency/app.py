"""An agency system (sample relying party: the land registry), a FAPI 2.0 client of idp
(:mod:`fapi2_client`): its sign-in is pushed to ``/par`` (RFC 9126) with PKCE S256, the client
authenticated with ``private_key_jwt`` by a key generated at first start into ``RP_KEY_FILE``
and published at ``/jwks.json`` (idp's registered ``jwks_uri``), and its tokens are DPoP-bound
(RFC 9449). Pairwise ``sub``; it asks for the profile, for the organisation the citizen acts for
(``organization``: the page shows whose business it serves), and for assurance
``urn:idp:acr:substantial`` (``acr_values``).

Its ``/caller`` page confirms a caller's identity on their phone (CIBA, :mod:`caller_check`)
with a client of its own (the FAPI 2.0 profile allows the code flow only):
``RP_CIBA_CLIENT_ID`` and ``RP_CIBA_CLIENT_SECRET``; without them the page says it is
unavailable.

Environment: ``RP_ISSUER``, ``RP_CLIENT_ID`` (demo-agency), ``RP_BASE_URL``, ``RP_KEY_FILE``,
``RP_CIBA_CLIENT_ID`` and ``RP_CIBA_CLIENT_SECRET`` (demo-agency-callcentre); no client secret.
``./scripts/run`` sets them.
"""

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
                        links=[("Call centre: confirm the identity of a caller", "/caller")], fapi2=True)
    app.register_blueprint(caller_check(issuer=env["RP_ISSUER"].rstrip("/"),
                                        client_id=env.get("RP_CIBA_CLIENT_ID") or None,
                                        client_secret=env.get("RP_CIBA_CLIENT_SECRET") or None))
    return app


if __name__ == "__main__":
    serve(create_app(), os.environ["RP_BASE_URL"])
