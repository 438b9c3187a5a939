"""Load the demo data into the configured database (idempotent): ``./scripts/run`` calls it.

Everything here is fictional. Each loader is a function of the package that owns the data,
called in order with the app context open; it returns the lines to print (where to go, how
to sign in). Packages may also append loaders to ``app.extensions["idp.demo_loaders"]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from idp import create_app
from idp.accounts import demo as accounts_demo
from idp.oidc.clients import demo as oidc_demo

HERE = Path(__file__).resolve().parent


def main() -> None:
    app = create_app()
    with app.app_context():
        print(accounts_demo.load(HERE / "demo_registry.csv"))
        for loader in app.extensions.get("idp.demo_loaders", []):
            print(loader())
        # The sample relying parties (clients/portal, clients/agency), when their addresses
        # are given (./scripts/run sets them); their secrets go to instance/sample-clients.json.
        # demo-agency is a FAPI 2.0 client without a secret; its call-centre page has a CIBA
        # client of its own (demo-agency-callcentre).
        urls = {name: os.environ[var] for name, var in
                (("portal", "SAMPLE_PORTAL_URL"), ("agency", "SAMPLE_AGENCY_URL"))
                if os.environ.get(var)}
        if urls:
            secrets_file = Path(app.config["IDP"].instance_dir) / "sample-clients.json"
            for client_id, client in oidc_demo.register_sample_clients(urls, secrets_file).items():
                print(f"sample client {client_id}: {client['url']}")


if __name__ == "__main__":
    main()
