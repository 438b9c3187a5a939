"""``idp ciba``: a client's CIBA token delivery mode (CIBA Core §4 metadata
``backchannel_token_delivery_mode`` and ``backchannel_client_notification_endpoint``). The
client must also be registered for the grant type (``idp clients update ID --grant-type
urn:openid:params:grant-type:ciba``); see :mod:`idp.oidc.grants.ciba`."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from idp.cli_output import audit, emit, fail, json_option
from idp.db import db
from idp.oidc.grants import ciba
from idp.oidc.models import Client

ciba_cli = AppGroup("ciba", help="Client-Initiated Backchannel Authentication (CIBA) settings.")


@ciba_cli.command("set-mode")
@click.argument("client_id")
@click.argument("mode", type=click.Choice(ciba.DELIVERY_MODES))
@click.option("--notification-endpoint", default=None,
              help="Ping mode: where idp POSTs {\"auth_req_id\": ...} when the citizen has answered.")
@json_option
def set_mode_command(client_id: str, mode: str, notification_endpoint: str | None, as_json: bool) -> None:
    """Set how CLIENT_ID learns the citizen's answer: poll (the default) or ping.

    Example: idp ciba set-mode call-centre ping --notification-endpoint https://cc.example.gov.vn/ciba
    """
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is None:
        raise fail(f"no client with id {client_id!r}")
    try:
        setting = ciba.configure(client, mode, notification_endpoint)
    except ValueError as exc:
        raise fail(str(exc)) from None
    audit("ciba.configured", client_id=client_id,
          details={"mode": mode, "notification_endpoint": setting.notification_endpoint})
    db.session.commit()
    data = {"client_id": client_id, "delivery_mode": mode,
            "notification_endpoint": setting.notification_endpoint,
            "grant_type_registered": client.check_grant_type(ciba.GRANT_TYPE)}
    emit(data, as_json)
    if not data["grant_type_registered"]:
        click.echo(f"warning: {client_id} is not registered for {ciba.GRANT_TYPE}; add it with "
                   f"idp clients update {client_id} --grant-type ...", err=True)
