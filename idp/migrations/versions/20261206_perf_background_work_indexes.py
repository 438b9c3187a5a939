"""perf: index only the rows the background polls and the purge look for

Every server process polls the logout queue, the outbox and the live sessions every few
seconds, and runs the purge every hour. Their finished rows (delivered, sent, ended) stay
until the purge, and the polls walked them: the queues' due-time index starts with the oldest
rows, which are the finished ones, and the expiry sweep's idle condition had no index at all.
Partial indexes now hold the pending deliveries and messages (by due time) and the sessions not
ended (by either deadline); the plain due-time indexes they replace are dropped. For the purge,
which found nothing to delete only after walking the codes and the sessions: the codes never
redeemed (by expiry), the sessions by their end, and the refresh-token families by their start
and their revocation.

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


def upgrade():
    for table in QUEUES:
        op.drop_index(f"ix_{table}_next_attempt_at", table_name=table)
        op.create_index(f"ix_{table}_due", table, ["next_attempt_at", "id"], unique=False,
                        postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    for column in SESSION_DEADLINES:
        op.create_index(f"ix_sso_sessions_live_{column}", "sso_sessions", [column], unique=False,
                        postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
    op.create_index("ix_sso_sessions_ended_at", "sso_sessions", ["ended_at"], unique=False)
    op.create_index("ix_authorization_codes_unused_expires_at", "authorization_codes", ["expires_at"],
                    unique=False, postgresql_where=sa.text(UNUSED), sqlite_where=sa.text(UNUSED))
    for column in FAMILY_ENDS:
        op.create_index(f"ix_refresh_token_families_{column}", "refresh_token_families", [column],
                        unique=False)


def downgrade():
    for column in FAMILY_ENDS:
        op.drop_index(f"ix_refresh_token_families_{column}", table_name="refresh_token_families")
    op.drop_index("ix_authorization_codes_unused_expires_at", table_name="authorization_codes")
    op.drop_index("ix_sso_sessions_ended_at", table_name="sso_sessions")
    for column in SESSION_DEADLINES:
        op.drop_index(f"ix_sso_sessions_live_{column}", table_name="sso_sessions")
    for table in QUEUES:
        op.drop_index(f"ix_{table}_due", table_name=table)
        op.create_index(f"ix_{table}_next_attempt_at", table, ["next_attempt_at"], unique=False)
