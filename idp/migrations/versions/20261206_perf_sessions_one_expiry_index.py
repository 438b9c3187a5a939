"""perf: one index of the sessions' expiry, the partial one of the sessions not ended

The purge's absolute-lifetime term for sessions now reads only sessions never ended (an ended
session is kept for the retention window after its end, by its ``ended_at``), which the
expiry sweep's partial index ``ix_sso_sessions_live_expires_at`` answers. The plain index of
``expires_at`` over every session is then read by nothing, and every sign-in's INSERT kept it.

Revision ID: perf_0003
Revises: perf_0002
Create Date: 2026-12-06 19:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'perf_0003'
down_revision = 'perf_0002'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_sso_sessions_expires_at", table_name="sso_sessions", if_exists=True)


def downgrade():
    op.create_index("ix_sso_sessions_expires_at", "sso_sessions", ["expires_at"], unique=False,
                    if_not_exists=True)
