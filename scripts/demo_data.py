"""Load the demo data into the configured database (idempotent): ``./scripts/run`` calls it.

Everything here is fictional. Each loader is a function of the package that owns the data,
called in order with the app context open; it returns the lines to print (where to go, how
to sign in). Packages may also append loaders to ``app.extensions["idp.demo_loaders"]``.
"""

from __future__ import annotations

from pathlib import Path

from idp import create_app
from idp.accounts import demo as accounts_demo

HERE = Path(__file__).resolve().parent


def main() -> None:
    app = create_app()
    with app.app_context():
        print(accounts_demo.load(HERE / "demo_registry.csv"))
        for loader in app.extensions.get("idp.demo_loaders", []):
            print(loader())


if __name__ == "__main__":
    main()
