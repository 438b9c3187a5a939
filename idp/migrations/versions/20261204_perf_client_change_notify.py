"""perf: notify every node when a client, a revocation or a citizen's lock changes

Triggers raise NOTIFY idp_changed (payload: schema.table) in the changing transaction: any change
to clients or client_secrets, any row added to or removed from revoked_access_tokens, any
change of a citizen's locked_until. Each process's cache of what client authentication reads
(idp.oidc.clients.record_cache) drops that part when the transaction commits, whoever made the
change. On SQLite, which has no notifications, the same changes are counted by triggers in the
one row of cache_changes, which each use of the cache reads first.

Revision ID: perf_0001
Revises: fapi_0001
Create Date: 2026-12-04 09:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_0001'
down_revision = 'fapi_0001'
branch_labels = None
depends_on = None

STATEMENT_TABLES = ("clients", "client_secrets", "revoked_access_tokens")


def _sqlite_triggers() -> list[str]:
    # The DDL as of this revision, written out rather than imported from
    # idp.oidc.clients.record_cache: a migration must keep doing what it did when the app changes.
    bump = "UPDATE cache_changes SET {part} = {part} + 1 WHERE id = 1"
    triggers = [f"CREATE TRIGGER {table}_{op_.lower()}_counted AFTER {op_} ON {table} "
                f"BEGIN {bump.format(part=part)}; END"
                for table, part in (("clients", "clients"), ("client_secrets", "clients"),
                                    ("revoked_access_tokens", "tokens"))
                for op_ in ("INSERT", "UPDATE", "DELETE")]
    triggers.append("CREATE TRIGGER citizens_lock_counted AFTER UPDATE OF locked_until ON citizens "
                    "WHEN OLD.locked_until IS NOT NEW.locked_until "
                    f"BEGIN {bump.format(part='tokens')}; END")
    return triggers


def upgrade():
    op.create_table(
        "cache_changes",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.execute("INSERT INTO cache_changes (id, clients, tokens) VALUES (1, 0, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _sqlite_triggers():
            op.execute(trigger)
        return
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
CREATE OR REPLACE FUNCTION idp_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('idp_changed', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
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
    if op.get_bind().dialect.name == "sqlite":
        for trigger in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {trigger.split()[2]}")
    op.drop_table("cache_changes")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS citizens_lock_changed ON citizens")
    for table in STATEMENT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS idp_notify_change()")
