"""perf: index only the rows the background polls and the purge look for

Every server process polls the logout queue, the outbox and the live sessions every few
seconds, and runs the purge every hour. Their finished rows (delivered, sent, ended) stay
until the purge, and the polls walked them: the queues' due-time index starts with the oldest
rows, which are the finished ones, and the expiry sweep's idle condition had no index at all.
Partial indexes now hold the pending deliveries and messages (by due time) and the sessions not
ended (by either deadline); the plain due-time indexes they replace are dropped once they are
built. For the purge, which found nothing to delete only after walking the codes, the sessions
and the families: the codes never redeemed (by expiry), the sessions by their end, and the
refresh-token families by their start and their revocation. On PostgreSQL an index on a table
of 64 MiB or more is built CONCURRENTLY, so the table stays writable during the upgrade.

Revision ID: perf_0002
Revises: perf_0001
Create Date: 2026-12-06 15:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_0002'
down_revision = 'perf_0001'
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"
LIVE = "ended_at IS NULL"
UNUSED = "used_at IS NULL"
QUEUES = ("logout_deliveries", "outbox_messages")
SESSION_DEADLINES = ("expires_at", "last_seen_at")
FAMILY_ENDS = ("created_at", "revoked_at")


#: From this size on (PostgreSQL), an index is built CONCURRENTLY: the table stays writable.
BIG = 64 * 1024 * 1024


def _big(table: str) -> bool:
    """Whether ``table`` is large enough that a plain CREATE INDEX, which holds writes to it
    while it reads it, would hold sign-ins noticeably (3,000,000 sessions: 2 s). A small table
    (a new or a test database) is indexed in the migration's transaction: CONCURRENTLY waits
    for every older transaction in the database, and two such builds at once (several test
    databases upgrading in one PostgreSQL) can wait for each other until one is cancelled."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    size = bind.execute(sa.text("SELECT pg_relation_size(CAST(:t AS regclass))"), {"t": table})
    return size.scalar() >= BIG


def _create(name: str, table: str, columns: list[str], where: str | None = None) -> None:
    partial = {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)} if where else {}
    if _big(table):
        with op.get_context().autocommit_block():
            op.create_index(name, table, columns, unique=False, postgresql_concurrently=True,
                            if_not_exists=True, **partial)
    else:
        op.create_index(name, table, columns, unique=False, if_not_exists=True, **partial)


def _drop(name: str, table: str) -> None:
    op.drop_index(name, table_name=table, if_exists=True)


def upgrade():
    for table in QUEUES:
        _create(f"ix_{table}_due", table, ["next_attempt_at", "id"], PENDING)
        _drop(f"ix_{table}_next_attempt_at", table)
    for column in SESSION_DEADLINES:
        _create(f"ix_sso_sessions_live_{column}", "sso_sessions", [column], LIVE)
    _create("ix_sso_sessions_ended_at", "sso_sessions", ["ended_at"])
    _create("ix_authorization_codes_unused_expires_at", "authorization_codes", ["expires_at"], UNUSED)
    for column in FAMILY_ENDS:
        _create(f"ix_refresh_token_families_{column}", "refresh_token_families", [column])


def downgrade():
    for column in FAMILY_ENDS:
        _drop(f"ix_refresh_token_families_{column}", "refresh_token_families")
    _drop("ix_authorization_codes_unused_expires_at", "authorization_codes")
    _drop("ix_sso_sessions_ended_at", "sso_sessions")
    for column in SESSION_DEADLINES:
        _drop(f"ix_sso_sessions_live_{column}", "sso_sessions")
    for table in QUEUES:
        _create(f"ix_{table}_next_attempt_at", table, ["next_attempt_at"])
        _drop(f"ix_{table}_due", table)
