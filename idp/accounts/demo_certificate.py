"""The demo PKI for the sandbox (``./scripts/run``): made once, trusted, and a certificate for
the demo citizen.

Idempotent and fast after the first start: the PKI is made into ``<IDP_INSTANCE_DIR>/demo-pki``
only when missing or when its CRLs are about to lapse (a week's nextUpdate; a lapsed CRL would
refuse every certificate under the hard-fail policy). Its root is copied into
``<IDP_KEYS_DIR>/trust/demo-root-ca.pem`` so the server trusts it; both folders are git-ignored,
so no private key or PKCS#12 file can be committed. ``./scripts/run`` points
``IDP_SIGNATURE_CRL_SOURCES`` at the folder (the server does not publish the CRLs over HTTP).
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from flask import current_app

from idp.accounts.demo import DEMO_IDENTIFIER
from idp.citizens.registry import lookup
from idp.signatures.demo_pki import make_demo_pki

FOLDER = "demo-pki"
TRUST_FILE = "demo-root-ca.pem"
DEMO_SLUG = "demo-citizen"
#: Remake the PKI when a CRL has less than this left before its nextUpdate.
MIN_CRL_LIFE = timedelta(days=1)


def _fresh(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if not (folder / f"{DEMO_SLUG}.p12").is_file():
            return False
        for name in manifest["crls"]:
            crl = x509.load_der_x509_crl((folder / name).read_bytes())
            if crl.next_update_utc is None or crl.next_update_utc < datetime.now(UTC) + MIN_CRL_LIFE:
                return False
    except (OSError, ValueError, KeyError):
        return False
    return True


def ensure_demo_pki(instance_dir: Path, keys_dir: Path, issuer: str, demo_name: str) -> tuple[Path, bool]:
    """The demo PKI folder (made if missing or stale) and whether it was made now."""
    folder = instance_dir / FOLDER
    made = not _fresh(folder)
    if made:
        make_demo_pki(folder, base_url=f"{issuer}/{FOLDER}",
                      extra_citizens=((DEMO_SLUG, demo_name, DEMO_IDENTIFIER, "ec-p256", "valid", True),))
    trust = keys_dir / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    root = (folder / "root-ca.pem").read_bytes()
    target = trust / TRUST_FILE
    if not target.is_file() or target.read_bytes() != root:
        target.write_bytes(root)
    return folder, made


def load() -> str:
    """Demo loader (``app.extensions["idp.demo_loaders"]``): what to tell the person starting."""
    settings = current_app.config["IDP"]
    entry = lookup("vn-pin", DEMO_IDENTIFIER)
    name = entry.full_name if entry is not None else "Nguyễn Văn An"
    folder, made = ensure_demo_pki(Path(settings.instance_dir), Path(settings.keys_dir), settings.issuer,
                                   name)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    p12 = folder / f"{DEMO_SLUG}.p12"
    try:
        shown = p12.relative_to(Path.cwd())
    except ValueError:
        shown = p12
    command = (f"IDP_SIGNER_PASSWORD={shlex.quote(manifest['password'])} .venv/bin/python "
               f"clients/signer/idp_signer.py --p12 {shlex.quote(str(shown))} --challenge '<challenge>'")
    others = ", ".join(f"{c['slug']}.p12 ({c['status']})" for c in manifest["citizens"]
                       if c["slug"] != DEMO_SLUG)
    return (f"demo PKI:      {folder} ({'made now' if made else 'kept'}; root trusted as "
            f"{Path(settings.keys_dir) / 'trust' / TRUST_FILE})\n"
            f"certificate sign-in: {settings.issuer}/login/certificate, then sign the challenge shown:\n"
            f"  {command}\n"
            f"  and paste the output (acr substantial at most), or start the signer with --serve\n"
            f"  instead of --challenge and press \"Sign with the signer on this computer\" (origin-bound).\n"
            f"  Other demo certificates (no account): {others}")
