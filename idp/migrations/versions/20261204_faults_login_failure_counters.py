"""faults: login_failure_counters

Lockout counters in the database while Redis is unreachable (idp.auth.lockout_fallback), so
an account's failures are counted once for every node during an outage.

Revision ID: faults_0001
Revises: appsignin_0001
Create Date: 2026-12-04 06:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'faults_0001'
down_revision = 'appsignin_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_failure_counters',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('blocked_until', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_failure_counters'))
    )
    with op.batch_alter_table('login_failure_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failure_counters_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_failure_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_failure_counters_expires_at'))
    op.drop_table('login_failure_counters')
