"""clients.sector_identifier_uri; the pairwise sector of every existing client made explicit;
what an initial access token lets a registrant get (registration_tokens.allowed_scope,
allow_public_subject: nothing beyond the default for existing tokens)

Until now a pairwise client without a stored sector_identifier got the host of its FIRST
redirect URI as its sector (OpenID Connect Core 1.0 section 8.1), computed at each use. The
sector is now fixed at registration (idp.oidc.sector); this stores, for every existing pairwise
client without one, exactly the value it had, so no relying party sees its citizens' ``sub``
change (neither now nor after a later update of its redirect URIs).

Revision ID: sec_clients_0002
Revises: sec_tokens_0001
Create Date: 2026-12-04 05:35:00
"""
import json
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "sec_clients_0002"
down_revision = "sec_tokens_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("sector_identifier_uri", sa.String(length=1000), nullable=True))
    with op.batch_alter_table("registration_tokens") as batch:
        batch.add_column(sa.Column("allowed_scope", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("allow_public_subject", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    clients = sa.table("clients", sa.column("id", sa.Integer), sa.column("redirect_uris", sa.JSON),
                       sa.column("subject_type", sa.String), sa.column("sector_identifier", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(clients.c.id, clients.c.redirect_uris).where(
        clients.c.subject_type == "pairwise", clients.c.sector_identifier.is_(None))).all()
    for pk, redirect_uris in rows:
        uris = json.loads(redirect_uris) if isinstance(redirect_uris, str) else redirect_uris
        host = urlsplit(uris[0]).hostname if uris else None
        if host:
            connection.execute(clients.update().where(clients.c.id == pk).values(sector_identifier=host))


def downgrade():
    # The stored sectors are the values the old code computed: leaving them changes nothing.
    with op.batch_alter_table("registration_tokens") as batch:
        batch.drop_column("allow_public_subject")
        batch.drop_column("allowed_scope")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("sector_identifier_uri")
