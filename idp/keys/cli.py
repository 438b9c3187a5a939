"""``idp keys``: list, rotate and retire signing keys (used by operators and by tests)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from idp.audit.log import admin_actor, record
from idp.cli_output import AdminError
from idp.db.types import utcnow
from idp.keys import service

keys_cli = AppGroup("keys", help="Signing keys and the published JWKS.")


def _row(key) -> dict:
    now = utcnow()
    if key.retired_at is None:
        status = "active"
    elif key.publish_until and key.publish_until > now:
        status = "retired"
    else:
        status = "expired"
    return {
        "kid": key.kid, "alg": key.alg, "status": status,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "retired_at": key.retired_at.isoformat(timespec="seconds") if key.retired_at else None,
        "publish_until": key.publish_until.isoformat(timespec="seconds") if key.publish_until else None,
    }


def _emit(data, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    rows = data if isinstance(data, list) else [data]
    for row in rows:
        click.echo(f"{row['kid']:32} {row['alg']:6} {row['status']:8} "
                   f"created {row['created_at']}"
                   + (f", published until {row['publish_until']}" if row["publish_until"] else ""))


@keys_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> None:
    """List every signing key: active, retired (still published) or expired.

    Example: idp keys list --json
    """
    service.jwks()  # make sure the configured algorithms have a key
    _emit([_row(k) for k in service.list_keys()], as_json)


@keys_cli.command("rotate")
@click.option("--alg", type=click.Choice(list(service.GENERATORS)), default=None,
              help="Algorithm to rotate (default: every one in use).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rotate_command(alg: str | None, as_json: bool) -> None:
    """Make a new key sign from now on; the old one stays in the JWKS until its tokens expire.

    Example: idp keys rotate --alg ES256 --json
    """
    algs = [alg] if alg else list(service.supported_algs())
    out = []
    for name in algs:
        try:
            new, old = service.rotate(name)
        except service.KeyServiceError as exc:
            raise AdminError(str(exc)) from None
        record("keys.rotated", actor=admin_actor(),
               details={"alg": name, "kid": new.kid, "retired_kid": old.kid if old else None},
               commit=True)
        out.append({"new": _row(new), "retired": _row(old) if old else None})
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        for item in out:
            click.echo(f"{item['new']['alg']}: now signing with {item['new']['kid']}"
                       + (f", {item['retired']['kid']} retired" if item["retired"] else ""))


@keys_cli.command("retire")
@click.argument("kid")
@click.option("--force", is_flag=True,
              help="Unpublish at once (a compromised key): tokens it signed stop verifying.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def retire_command(kid: str, force: bool, as_json: bool) -> None:
    """Stop signing with KID; it stays published for the longest token lifetime.

    Example: idp keys retire 6f1c0d2e9a... --force
    """
    try:
        key = service.retire(kid, force=force)
    except service.KeyServiceError as exc:
        raise AdminError(str(exc)) from None
    record("keys.retired", actor=admin_actor(), details={"kid": kid, "alg": key.alg, "force": force},
           commit=True)
    _emit(_row(key), as_json)
