"""``idp token-exchange``: which client may exchange citizens' tokens for which other client's
API, and within which scope (RFC 8693; see :mod:`idp.oidc.grants.token_exchange`)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import aliased

from idp.audit.log import admin_actor
from idp.db import db
from idp.oidc.grants import token_exchange
from idp.oidc.models import Client, TokenExchangePolicy

token_exchange_cli = AppGroup("token-exchange", help="Token exchange permissions (RFC 8693).")


def _client(client_id: str, option: str) -> Client:
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is None:
        raise click.UsageError(f"{option}: no client with id {client_id!r}")
    return client


@token_exchange_cli.command("allow")
@click.option("--client", "client_id", required=True, help="The client that exchanges (the actor).")
@click.option("--audience", "audience_id", required=True, help="The client whose API the new token is for.")
@click.option("--scope", required=True, help='Scopes the new token may carry, e.g. "openid profile".')
def allow_command(client_id: str, audience_id: str, scope: str) -> None:
    """Allow CLIENT to exchange a citizen's access token for one addressed to AUDIENCE.

    Example: idp token-exchange allow --client tax-office --audience social-insurance --scope "openid profile"
    """
    client, audience = _client(client_id, "--client"), _client(audience_id, "--audience")
    try:
        policy = token_exchange.allow(client, audience, scope, actor=admin_actor())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    db.session.commit()
    click.echo(f"{client_id} may exchange tokens for {audience_id} with scope: {policy.scope}")
    if not client.check_grant_type(token_exchange.GRANT_TYPE):
        # Both must hold: the permission and the client's registered grant type.
        click.echo(f"warning: {client_id} is not registered for the grant type "
                   f"{token_exchange.GRANT_TYPE}; its exchanges are refused (unauthorized_client) "
                   f"until an administrator adds it: idp clients update {client_id} --grant-type ...",
                   err=True)


@token_exchange_cli.command("list")
@click.option("--client", "client_id", default=None, help="Only this client's permissions.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(client_id: str | None, as_json: bool) -> None:
    """List the permissions: client, audience, scope."""
    actor, target = aliased(Client), aliased(Client)
    query = (select(TokenExchangePolicy, actor.client_id, target.client_id)
             .join(actor, actor.id == TokenExchangePolicy.client_pk)
             .join(target, target.id == TokenExchangePolicy.audience_pk)
             .order_by(actor.client_id, target.client_id))
    if client_id:
        query = query.where(actor.client_id == client_id)
    rows = [{"client": c, "audience": a, "scope": p.scope,
             "created_at": p.created_at.isoformat(timespec="seconds"), "created_by": p.created_by}
            for p, c, a in db.session.execute(query).all()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no token exchange is allowed")
    for row in rows:
        click.echo(f"{row['client']:24} -> {row['audience']:24} {row['scope']}")


@token_exchange_cli.command("revoke")
@click.option("--client", "client_id", required=True)
@click.option("--audience", "audience_id", required=True)
def revoke_command(client_id: str, audience_id: str) -> None:
    """Withdraw a permission (tokens already issued expire on their own, within minutes)."""
    client, audience = _client(client_id, "--client"), _client(audience_id, "--audience")
    if not token_exchange.revoke(client, audience, actor=admin_actor()):
        raise click.UsageError(f"{client_id} was not allowed to exchange tokens for {audience_id}")
    db.session.commit()
    click.echo(f"{client_id} may no longer exchange tokens for {audience_id}")
