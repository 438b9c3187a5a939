"""The demo data ``./scripts/run`` loads: the sample registry and a citizen who can sign in."""

from __future__ import annotations

import subprocess
import sys

from idp import create_app
from idp.accounts import demo
from idp.db import db
from tests.factories import ROOT, sign_in
from tests.helpers import idp_env, run_idp


def test_demo_data_loads_twice_and_prints_a_working_sign_in(environ):
    assert run_idp(["db", "upgrade"], environ).returncode == 0
    for _ in range(2):  # idempotent: ./scripts/run calls it at every start
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo_data.py")],
                                env=idp_env(environ), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert f"http://127.0.0.1:8000/login  username {demo.DEMO_IDENTIFIER}" in result.stdout
    assert f"password {demo.DEMO_PASSWORD}" in result.stdout
    app = create_app(environ)
    client = app.test_client()
    assert sign_in(client, demo.DEMO_IDENTIFIER, demo.DEMO_PASSWORD).status_code == 303
    assert "Nguyễn Văn An" in client.get("/account").get_data(as_text=True)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
