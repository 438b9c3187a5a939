"""Which relying party a sign-in is for, named for the citizen's identity app.

:mod:`idp.auth.app_signin` shows the app "which service asks"; it knows only the sign-in's
``next`` path. When that path resumes a stored authorization request
(``/authorize/continue/<id>``), the client's name (and agency) is the answer. Registered in
``app.extensions["idp.service_for_next"]`` so the sign-in layer does not import this one.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import bindparam, select

from idp.db import db
from idp.oidc.models import Client, PendingAuthorization

PREFIX = "/authorize/continue/"

_SERVICE = (select(Client.name, Client.agency)
            .join(PendingAuthorization, PendingAuthorization.client_pk == Client.id)
            .where(PendingAuthorization.id == bindparam("pending_id")))


def service_for_next(next_url: str) -> str | None:
    if not next_url.startswith(PREFIX):
        return None
    row = db.session.execute(_SERVICE, {"pending_id": next_url[len(PREFIX):].split("?")[0][:64]}).first()
    if row is None:
        return None
    return f"{row.name} ({row.agency})" if row.agency else row.name


def init_app(app: Flask) -> None:
    app.extensions["idp.service_for_next"] = service_for_next
