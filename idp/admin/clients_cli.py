"""``idp clients``: register and manage relying parties (agency systems).

Thin over :mod:`idp.oidc.clients.registry`, which holds every rule (redirect URIs, methods, keys), so
the demo loader and dynamic registration accept exactly the clients this command accepts.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from idp.audit.log import admin_actor
from idp.cli_output import audit, emit, fail, json_option
from idp.db import db
from idp.oidc.clients import registry as service
from idp.oidc.endpoints.registration import (
    create_initial_token,
    initial_tokens,
    revoke_initial_token,
    token_state,
)

clients_cli = AppGroup("clients", help="Relying-party clients (agency systems).")

EXAMPLE_CREATE = """Example:

\b
    idp clients create --name "Cổng thuế" --redirect-uri https://thue.example.gov.vn/cb \\
        --scope "openid profile national_id" --json
"""


def _human(data: dict):
    yield from (f"{k:26} {' '.join(map(str, v)) if isinstance(v, list) else ('' if v is None else v)}"
                for k, v in data.items() if k not in ("jwks",))
    if data.get("jwks"):
        yield f"{'jwks':26} {len(data['jwks']['keys'])} key(s)"


def _load_jwks(path: str | None):
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc.__class__.__name__}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{path} is not JSON (line {exc.lineno})") from None


def metadata_options(*, update: bool):
    """The metadata options shared by ``create`` and ``update`` (on update, unset = unchanged)."""
    many = {"multiple": True, "default": None if update else ()}

    def decorate(command):
        options = [
            click.option("--name", required=not update, help="Name shown to citizens on the consent page."),
            click.option("--agency", default=None, help="The agency operating the system."),
            click.option("--redirect-uri", "redirect_uris", metavar="URI", **many,
                         help="Redirect URI (repeat); https, or http on loopback; exact match."),
            click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", metavar="URI", **many,
                         help="Where RP-initiated logout may return (repeat)."),
            click.option("--grant-type", "grant_types", type=click.Choice(service.GRANT_TYPES), **many,
                         help="Grant type (repeat); default authorization_code + refresh_token."),
            click.option("--scope", default=None, help='Allowed scopes, e.g. "openid profile email".'),
            click.option("--auth-method", "token_endpoint_auth_method", default=None,
                         type=click.Choice(service.AUTH_METHODS),
                         help="Token endpoint authentication (default client_secret_basic)."),
            click.option("--jwks-file", type=click.Path(dir_okay=False), default=None,
                         help="File with the client's public JWK Set (private_key_jwt)."),
            click.option("--jwks-uri", default=None, help="URL of the client's public JWK Set."),
            click.option("--subject-type", type=click.Choice(["pairwise", "public"]), default=None,
                         help="Subject identifiers (default pairwise)."),
            click.option("--sector-identifier", default=None, metavar="HOST",
                         help="Pairwise sector shared by one agency's systems (set by the "
                              "administrator; default: the single host of the redirect URIs)."),
            click.option("--sector-identifier-uri", default=None, metavar="URI",
                         help="https URL of a JSON array listing every redirect URI; its host "
                              "is the pairwise sector (OIDC Core 8.1)."),
            click.option("--backchannel-logout-uri", default=None, metavar="URI"),
            click.option("--frontchannel-logout-uri", default=None, metavar="URI"),
            click.option("--default-acr", "default_acr_values", metavar="ACR", **many,
                         help="Default acr_values (repeat)."),
            click.option("--logo-uri", default=None, metavar="URI"),
            click.option("--contacts", "contacts", metavar="EMAIL", **many,
                         help="Technical contact email (repeat)."),
            json_option,
        ]
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def _metadata(options: dict, *, update: bool) -> dict:
    """Options given on the command line as client metadata (None = not given)."""
    jwks_file = options.pop("jwks_file", None)
    meta = {}
    if jwks_file is not None:
        meta["jwks"] = _load_jwks(jwks_file)
        meta["jwks_uri"] = None
    for key, value in options.items():
        if value is None or value == ():  # not given (Click gives () for an unused list)
            continue
        meta[key] = list(value) if isinstance(value, tuple) else value
    if meta.get("jwks_uri"):
        meta.setdefault("jwks", None)
    return meta


def _client(client_id: str):
    client = service.find_client(client_id)
    if client is None:
        raise fail(f"no client with id {client_id!r}")
    return client


@clients_cli.command("create", epilog=EXAMPLE_CREATE)
@click.option("--client-id", default=None, help="Choose the client_id (default: random).")
@metadata_options(update=False)
def create_command(client_id: str | None, as_json: bool, **options) -> None:
    """Register a client; prints its client_id and, for secret methods, its secret ONCE."""
    meta = _metadata(options, update=False)
    try:
        client, secret = service.create_client(client_id=client_id, **meta)
    except service.ClientError as exc:
        raise fail(str(exc)) from None
    audit("client.created", client_id=client.client_id,
          details={"auth_method": client.token_endpoint_auth_method, "grant_types": client.grant_types})
    db.session.commit()
    data = {**service.describe(client), "client_secret": secret}
    if as_json:
        emit(data, True)
        return
    click.echo(f"client_id     {client.client_id}")
    if secret:
        click.echo(f"client_secret {secret}")
        click.echo("(the secret is shown only now: store it in the agency's secret vault)")


@clients_cli.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List every client.

    Example: idp clients list --json | jq -r '.[].client_id'
    """
    rows = [service.describe(c) for c in service.list_clients()]
    emit(rows, as_json, lambda rows: (
        f"{r['client_id']:24} {'enabled ' if r['enabled'] else 'DISABLED'} "
        f"{r['token_endpoint_auth_method']:20} {r['name']}" for r in rows))


@clients_cli.command("show")
@click.argument("client_id")
@json_option
def show_command(client_id: str, as_json: bool) -> None:
    """Print a client's registration (never its secret).

    Example: idp clients show tax-portal --json
    """
    emit(service.describe(_client(client_id)), as_json, _human)


@clients_cli.command("update", epilog="Example:\n\n\b\n    idp clients update tax-portal "
                      "--redirect-uri https://thue.example.gov.vn/cb --redirect-uri "
                      "https://thue.example.gov.vn/cb2")
@click.argument("client_id")
@metadata_options(update=True)
def update_command(client_id: str, as_json: bool, **options) -> None:
    """Change a client's registration; a repeated option replaces the whole list."""
    client = _client(client_id)
    try:
        changed, secret = service.update_client(client, **_metadata(options, update=True))
    except service.ClientError as exc:
        raise fail(str(exc)) from None
    audit("client.updated", client_id=client.client_id, details={"changed": changed})
    db.session.commit()
    data = {**service.describe(client), "changed": changed, "client_secret": secret}
    emit(data, as_json, lambda d: [f"updated {d['client_id']}: {', '.join(changed) or 'nothing changed'}"]
         + ([f"client_secret {secret}"] if secret else []))


@clients_cli.command("rotate-secret")
@click.argument("client_id")
@click.option("--grace", type=click.IntRange(0, 30 * 86400), default=None, metavar="SECONDS",
              help="How long the previous secret keeps working (default IDP_CLIENT_SECRET_GRACE).")
@json_option
def rotate_secret_command(client_id: str, grace: int | None, as_json: bool) -> None:
    """Issue a new secret; the old one works for the grace period, then stops.

    Example: idp clients rotate-secret tax-portal --grace 3600 --json
    """
    client = _client(client_id)
    if client.token_endpoint_auth_method not in service.SECRET_METHODS:
        raise fail(f"client {client_id!r} authenticates with {client.token_endpoint_auth_method}, "
                   "not a secret")
    secret = service.rotate_secret(client, grace_seconds=grace)
    audit("client.secret_rotated", client_id=client.client_id, details={"grace": grace})
    db.session.commit()
    old = [r.expires_at for r in client.secrets if r.expires_at]
    data = {"client_id": client.client_id, "client_secret": secret,
            "previous_secret_expires_at": max(old).isoformat(timespec="seconds") if old else None}
    emit(data, as_json, lambda d: [f"client_secret {secret}",
                                   f"the previous secret works until {d['previous_secret_expires_at']}"])


def _set_enabled(client_id: str, enabled: bool, as_json: bool) -> None:
    client = _client(client_id)
    service.set_enabled(client, enabled)
    audit("client.enabled" if enabled else "client.disabled", client_id=client.client_id)
    db.session.commit()
    emit({"client_id": client.client_id, "enabled": enabled}, as_json,
         lambda d: [f"{d['client_id']} {'enabled' if enabled else 'disabled'}"])


@clients_cli.command("disable")
@click.argument("client_id")
@json_option
def disable_command(client_id: str, as_json: bool) -> None:
    """Stop a client at once: no sign-in, no token, its tokens inactive everywhere.

    Example: idp clients disable tax-portal
    """
    _set_enabled(client_id, False, as_json)


@clients_cli.command("enable")
@click.argument("client_id")
@json_option
def enable_command(client_id: str, as_json: bool) -> None:
    """Let a disabled client work again (its unexpired tokens become valid again).

    Example: idp clients enable tax-portal
    """
    _set_enabled(client_id, True, as_json)


@clients_cli.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete_command(client_id: str, yes: bool, as_json: bool) -> None:
    """Delete a client and everything issued to it (consents, codes, refresh tokens).

    Example: idp clients delete tax-portal --yes
    """
    client = _client(client_id)
    if not yes and not click.confirm(f"Delete client {client_id!r} ({client.name})?", err=True):
        raise fail("nothing deleted")
    service.delete_client(client)
    audit("client.deleted", client_id=client_id)
    db.session.commit()
    emit({"client_id": client_id, "deleted": True}, as_json, lambda d: [f"deleted {client_id}"])


@clients_cli.group("registration-token")
def registration_token() -> None:
    """Initial access tokens for dynamic client registration (RFC 7591 §3)."""


@registration_token.command("create")
@click.option("--label", required=True, help="Who the token is for (the onboarding system).")
@click.option("--expires-in", type=click.IntRange(60, 90 * 86400), default=86400, show_default=True,
              metavar="SECONDS", help="Lifetime of the token.")
@click.option("--allow-scope", "allow_scopes", multiple=True, metavar="SCOPE",
              help="Let the clients it registers have this scope (national_id), otherwise given "
                   "by an administrator only; repeat for several.")
@click.option("--allow-public-subject", is_flag=True,
              help="Let the clients it registers have public subjects (default: pairwise only).")
@json_option
def registration_token_create(label: str, expires_in: int, allow_scopes: tuple[str, ...],
                              allow_public_subject: bool, as_json: bool) -> None:
    """Make an initial access token for the trusted onboarding system; shown ONCE.

    /connect/register works only with IDP_DYNAMIC_REGISTRATION=true.

    Example: idp clients registration-token create --label "onboarding.gov.vn" --expires-in 3600 --json
    """
    try:
        row, value = create_initial_token(label=label, expires_in=expires_in, actor=admin_actor(),
                                          allow_scopes=list(allow_scopes),
                                          allow_public_subject=allow_public_subject)
    except ValueError as exc:
        raise fail(str(exc)) from None
    db.session.commit()
    data = {"id": row.id, "label": label, "initial_access_token": value,
            "expires_at": row.expires_at.isoformat(timespec="seconds"),
            "allowed_scope": row.allowed_scope, "allow_public_subject": row.allow_public_subject,
            "registration_endpoint": f"{current_app.config['IDP'].issuer}/connect/register",
            "enabled": bool(current_app.config["IDP"].dynamic_registration)}
    lines = [f"initial_access_token {value}", f"expires at {data['expires_at']}"]
    if not data["enabled"]:
        lines.append("note: /connect/register is off; set IDP_DYNAMIC_REGISTRATION=true to open it")
    emit(data, as_json, lambda d: lines)


def _token_row(row) -> dict:
    def when(value):
        return value.isoformat(timespec="seconds") if value else None

    return {"id": row.id, "label": row.label, "state": token_state(row), "created_by": row.created_by,
            "created_at": when(row.created_at), "expires_at": when(row.expires_at),
            "revoked_at": when(row.revoked_at), "allowed_scope": row.allowed_scope,
            "allow_public_subject": row.allow_public_subject}


@registration_token.command("list")
@json_option
def registration_token_list(as_json: bool) -> None:
    """List initial access tokens, newest first: id, state (live, expired, revoked), label.

    Example: idp clients registration-token list --json
    """
    rows = [_token_row(row) for row in initial_tokens()]
    emit(rows, as_json, lambda d: [f"{r['id']}\t{r['state']}\t{r['expires_at']}\t{r['label']}"
                                   for r in d] or ["no initial access tokens"])


@registration_token.command("revoke")
@click.argument("token_id", type=int)
@json_option
def registration_token_revoke(token_id: int, as_json: bool) -> None:
    """Revoke an initial access token at once (by the id `create` and `list` show); the
    clients it registered are not affected.

    Example: idp clients registration-token revoke 3
    """
    try:
        row = revoke_initial_token(token_id, actor=admin_actor())
    except ValueError as exc:
        raise fail(str(exc)) from None
    db.session.commit()
    emit(_token_row(row), as_json, lambda d: [f"revoked initial access token {token_id} ({d['label']})"])
