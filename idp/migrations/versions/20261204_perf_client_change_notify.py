"""perf: notify every node when a client changes

A statement trigger on clients and client_secrets raises NOTIFY idp_client_changed in the
changing transaction, so each process's client cache (idp.oidc.clients.record_cache) drops its
copy when that transaction commits, whoever made the change. PostgreSQL only: SQLite keeps no
cache.

Revision ID: perf_0001
Revises: fapi_0001
Create Date: 2026-12-04 09:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'perf_0001'
down_revision = 'fapi_0001'
branch_labels = None
depends_on = None

TABLES = ("clients", "client_secrets")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
CREATE OR REPLACE FUNCTION idp_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('idp_client_changed', '');
    RETURN NULL;
END $$
""")
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION idp_client_changed()")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS idp_client_changed()")
