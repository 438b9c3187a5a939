"""sec-certs: signature_challenges.direct_response (the signer's own post of an origin-bound statement)

Revision ID: sec_certs_0001
Revises: sec_clients_0002
Create Date: 2026-12-04 05:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'sec_certs_0001'
down_revision = 'sec_clients_0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signature_challenges') as batch:
        batch.add_column(sa.Column('direct_response', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('signature_challenges') as batch:
        batch.drop_column('direct_response')
