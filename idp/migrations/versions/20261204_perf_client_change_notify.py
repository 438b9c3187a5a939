"""perf: notify every node when a client, a revocation or a citizen's lock changes

Triggers raise NOTIFY idp_changed (payload: the table) in the changing transaction: any change
to clients or client_secrets, any row added to or removed from revoked_access_tokens, any
change of a citizen's locked_until. Each process's cache of what client authentication reads
(idp.oidc.clients.record_cache) drops that part when the transaction commits, whoever made the
change. PostgreSQL only: SQLite keeps no such cache.

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

STATEMENT_TABLES = ("clients", "client_secrets", "revoked_access_tokens")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
CREATE OR REPLACE FUNCTION idp_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('idp_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$
""")
    for table in STATEMENT_TABLES:
        op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION idp_notify_change()")
    op.execute("CREATE TRIGGER citizens_lock_changed AFTER UPDATE OF locked_until ON citizens "
               "FOR EACH ROW WHEN (OLD.locked_until IS DISTINCT FROM NEW.locked_until) "
               "EXECUTE FUNCTION idp_notify_change()")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS citizens_lock_changed ON citizens")
    for table in STATEMENT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS idp_notify_change()")
