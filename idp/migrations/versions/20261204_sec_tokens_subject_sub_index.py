"""sec-tokens: index subject_identifiers.sub

Every presented access token asks whether the account its ``sub`` designates is locked
(idp.oidc.tokens.access.locked_subject), by ``sub`` alone: the (sector, sub) unique index
cannot answer that.

Revision ID: sec_tokens_0001
Revises: 0001
Create Date: 2026-12-04 05:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'sec_tokens_0001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subject_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subject_identifiers_sub'), ['sub'], unique=False)


def downgrade():
    with op.batch_alter_table('subject_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subject_identifiers_sub'))
