"""The sample relying parties of the sandbox (``clients/portal`` and ``clients/agency``),
registered through :func:`idp.oidc.clients.registry.create_client` and
:func:`~idp.oidc.clients.registry.update_client`, the code the admin CLI uses.

- ``demo-portal`` (the portal app): the national service portal; public ``sub``; profile and
  national_id, and ``organization`` when the citizen acts for their organisation;
  ``client_secret_basic``.
- ``demo-agency`` (the agency app): the land registry, a FAPI 2.0 client (``profile`` fapi2,
  as ``idp clients create --profile fapi2`` registers one, :mod:`idp.oidc.clients.fapi2`:
  ``private_key_jwt`` with the key the app publishes at ``<agency>/jwks.json``, PAR, PKCE S256,
  DPoP-bound tokens, ES256 ID tokens); pairwise ``sub``; profile and ``organization``; asks for
  ``urn:idp:acr:substantial``. It has no secret.
- ``demo-agency-callcentre`` (the agency app's ``/caller`` page): CIBA only
  (``client_secret_basic``, no redirect URI), in demo-agency's pairwise sector so both see the
  same ``sub`` for a citizen. The FAPI 2.0 profile allows the code flow only, hence a client of
  its own.

The portal and demo-agency register back-channel and front-channel logout URIs on their own
origin. Client secrets are shown once by ``create_client``; the sandbox keeps them in a 0600 JSON
file in the instance folder so ``./scripts/run`` can hand them to the apps (a new secret is
issued when the file is lost; ``null`` for demo-agency).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from idp.db import db
from idp.oidc.clients.fapi2 import PROFILE as FAPI2
from idp.oidc.clients.registry import (
    SECRET_METHODS,
    create_client,
    find_client,
    rotate_secret,
    update_client,
)

CIBA = "urn:openid:params:grant-type:ciba"
CODE_FLOW = ["authorization_code", "refresh_token"]


def _logout_uris(base: str) -> dict:
    return {"post_logout_redirect_uris": [f"{base}/"],
            "backchannel_logout_uri": f"{base}/backchannel-logout",
            "backchannel_logout_session_required": True,
            "frontchannel_logout_uri": f"{base}/frontchannel-logout",
            "frontchannel_logout_session_required": True}


def portal(base: str) -> dict[str, dict]:
    return {"demo-portal": {
        "name": "Cổng Dịch vụ công quốc gia (demo)", "agency": "Văn phòng Chính phủ",
        "scope": "openid profile national_id organization", "subject_type": "public",
        "redirect_uris": [f"{base}/callback"], "grant_types": CODE_FLOW,
        "token_endpoint_auth_method": "client_secret_basic", **_logout_uris(base)}}


def agency(base: str) -> dict[str, dict]:
    """demo-agency (FAPI 2.0) and demo-agency-callcentre (CIBA), which takes demo-agency's
    sector (filled in by :func:`register_sample_clients` once demo-agency is registered)."""
    name, ministry = "Hệ thống đăng ký đất đai (demo)", "Bộ Tài nguyên và Môi trường"
    return {
        "demo-agency": {
            "name": name, "agency": ministry, "scope": "openid profile organization",
            "subject_type": "pairwise", "redirect_uris": [f"{base}/callback"], "grant_types": CODE_FLOW,
            # The profile's rules (PAR, DPoP, ES256...) are applied by registry.validate_metadata.
            "profile": FAPI2, "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": f"{base}/jwks.json", "jwks": None, **_logout_uris(base)},
        "demo-agency-callcentre": {
            "name": f"{name}: tổng đài", "agency": ministry, "scope": "openid profile",
            "subject_type": "pairwise", "redirect_uris": [], "post_logout_redirect_uris": [],
            "grant_types": [CIBA], "token_endpoint_auth_method": "client_secret_basic"},
    }


#: The sample apps by name: what each registers, given the app's base URL.
APPS = {"portal": portal, "agency": agency}


def register_sample_clients(apps: dict[str, str], secrets_file: Path) -> dict[str, dict]:
    """Register the sample clients of the apps served at ``apps`` (app name in :data:`APPS` →
    base URL), or bring registered ones up to date (an older secret-based demo-agency becomes
    the FAPI 2.0 client). Returns {client_id: {"client_id", "client_secret", "url"}} and writes
    it to ``secrets_file`` (0600; ``client_secret`` null for a client without one). Idempotent;
    the caller's transaction is committed."""
    known = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    out = {}
    for app_name, base in apps.items():
        base = base.rstrip("/")
        for client_id, meta in APPS[app_name](base).items():
            if meta["grant_types"] == [CIBA]:
                # The same pairwise sector as demo-agency: the same sub for a citizen.
                meta = {**meta, "sector_identifier": find_client("demo-agency").sector_identifier}
            out[client_id] = {"client_id": client_id, "url": base,
                              "client_secret": _register(client_id, meta, known.get(client_id, {}))}
    db.session.commit()
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(out, handle, indent=2)
    return out


def _register(client_id: str, meta: dict, known: dict) -> str | None:
    """Create or update one client; its secret (the one kept in the file while the client still
    has live secrets, a new one otherwise), None for a client without."""
    client = find_client(client_id)
    if client is None:
        return create_client(client_id=client_id, **meta)[1]
    _, secret = update_client(client, **meta)
    if meta["token_endpoint_auth_method"] not in SECRET_METHODS:
        return None
    return secret or known.get("client_secret") or rotate_secret(client, grace_seconds=0)


__all__ = ["APPS", "register_sample_clients"]
