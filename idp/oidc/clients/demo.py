"""The sample relying parties of the sandbox (``clients/portal`` and ``clients/agency``),
registered through :func:`idp.oidc.clients.registry.create_client`, the code the admin CLI uses.

- ``demo-portal``: the national service portal; public ``sub``; profile and national_id, and
  ``organization`` when the citizen acts for their organisation.
- ``demo-agency``: an agency system (the land registry); pairwise ``sub``; profile and
  ``organization``; asks for ``urn:idp:acr:substantial``; registered for CIBA too (its
  call-centre page confirms a caller's identity on the caller's phone).

Both register back-channel and front-channel logout URIs on their own origin. Client secrets
are shown once by ``create_client``; the sandbox keeps them in a 0600 JSON file in the
instance folder so ``./scripts/run`` can hand them to the apps (a new secret is issued when the
file is lost).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select

from idp.db import db
from idp.oidc.clients.registry import create_client, rotate_secret
from idp.oidc.models import Client

SAMPLES = {
    "demo-portal": {"name": "Cổng Dịch vụ công quốc gia (demo)", "agency": "Văn phòng Chính phủ",
                    "scope": "openid profile national_id organization", "subject_type": "public"},
    "demo-agency": {"name": "Hệ thống đăng ký đất đai (demo)", "agency": "Bộ Tài nguyên và Môi trường",
                    "scope": "openid profile organization", "subject_type": "pairwise",
                    # Its "confirm the identity of a caller" page uses CIBA (idp.oidc.grants.ciba).
                    "grant_types": ["authorization_code", "refresh_token",
                                    "urn:openid:params:grant-type:ciba"]},
}


def register_sample_clients(urls: dict[str, str], secrets_file: Path) -> dict[str, dict]:
    """Register (or keep) the sample clients for the apps served at ``urls`` (client_id →
    base URL); returns {client_id: {"client_id", "client_secret", "url"}} and writes it to
    ``secrets_file``. Idempotent; the caller's transaction is committed."""
    known = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    out = {}
    for client_id, base in urls.items():
        base = base.rstrip("/")
        sample = SAMPLES[client_id]
        client = db.session.scalar(select(Client).where(Client.client_id == client_id))
        secret = known.get(client_id, {}).get("client_secret")
        if client is None:
            client, secret = create_client(
                client_id=client_id, name=sample["name"], agency=sample["agency"],
                redirect_uris=[f"{base}/callback"], post_logout_redirect_uris=[f"{base}/"],
                scope=sample["scope"], subject_type=sample["subject_type"],
                grant_types=sample.get("grant_types", ["authorization_code", "refresh_token"]),
                backchannel_logout_uri=f"{base}/backchannel-logout",
                backchannel_logout_session_required=True,
                frontchannel_logout_uri=f"{base}/frontchannel-logout",
                frontchannel_logout_session_required=True)
        elif secret is None or client.redirect_uris != [f"{base}/callback"]:
            client.redirect_uris = [f"{base}/callback"]
            client.post_logout_redirect_uris = [f"{base}/"]
            client.backchannel_logout_uri = f"{base}/backchannel-logout"
            client.frontchannel_logout_uri = f"{base}/frontchannel-logout"
            client.grant_types = sample.get("grant_types", client.grant_types)
            secret = rotate_secret(client, grace_seconds=0)
        out[client_id] = {"client_id": client_id, "client_secret": secret, "url": base}
    db.session.commit()
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(out, handle, indent=2)
    return out
