"""Load the demo data into the configured database (idempotent): ``./scripts/run`` calls it.

Everything here is fictional. Later steps register the demo relying parties and citizens
through the same service functions the admin CLI uses.
"""

from __future__ import annotations

from idp import create_app


def main() -> None:
    app = create_app()
    with app.app_context():
        loaders = app.extensions.get("idp.demo_loaders", [])
        for loader in loaders:
            print(loader())


if __name__ == "__main__":
    main()
