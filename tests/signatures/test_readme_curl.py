"""The README's curl example for the verification API, run as written (bash, curl, the signer
tool) against a real ``idp serve`` process that trusts the sandbox's demo PKI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp import create_app
from idp.accounts.demo_certificate import ensure_demo_pki
from idp.db import db
from tests.helpers import free_port, idp_env, run_idp, serving
from tests.signatures.conftest import ROOT, agency_client

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Signed-document verification API for agencies", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def live(environ, tmp_path) -> Iterator[dict]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    pki, _ = ensure_demo_pki(tmp_path / "instance", tmp_path / "keys", issuer, "Nguyễn Văn An")
    env = {**environ, "IDP_ISSUER": issuer, "IDP_SIGNATURE_CRL_SOURCES": str(pki)}
    assert run_idp(["db", "upgrade"], env).returncode == 0
    app = create_app(env)
    client_id, secret = agency_client(app)
    with app.app_context():
        db.engine.dispose()
    with serving(env, port, tmp_path / "server.log"):
        yield {"issuer": issuer, "client_id": client_id, "secret": secret}


def test_the_readme_curl_example_verifies_a_document_signed_by_the_demo_citizen(live, tmp_path):
    # The example runs from the repository root: give it the same layout in tmp_path.
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    (tmp_path / "clients").symlink_to(ROOT / "clients", target_is_directory=True)
    (tmp_path / "contract.pdf").write_bytes(b"%PDF-1.7\n" + "Hợp đồng mua bán\n".encode() * 100)
    script = readme_example().replace("http://127.0.0.1:8000", live["issuer"])
    env = {**idp_env({}), "CLIENT_ID": live["client_id"], "CLIENT_SECRET": live["secret"]}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is True, verdict["failures"]
    assert verdict["signer"]["identifier"] == {"scheme": "vn-pin", "value": "001085888274"}
    assert verdict["revocation"]["status"] == "good"
