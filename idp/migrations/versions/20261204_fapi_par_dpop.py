"""fapi: client profile, PAR and DPoP requirements; pushed authorization requests; used jti's;
DPoP key of a public client's refresh token family and of an authorization code

Revision ID: fapi_0001
Revises: faults_0001
Create Date: 2026-12-04 06:05:00

"""
from alembic import op
import sqlalchemy as sa
import idp.db.types


# revision identifiers, used by Alembic.
revision = 'fapi_0001'
down_revision = 'faults_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('profile', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('require_pushed_authorization_requests', sa.Boolean(),
                                   nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('dpop_bound_access_tokens', sa.Boolean(),
                                   nullable=False, server_default=sa.false()))
    with op.batch_alter_table('refresh_token_families') as batch:
        batch.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    with op.batch_alter_table('authorization_codes') as batch:
        batch.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    op.create_table('pushed_authorization_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uri_digest', sa.String(length=64), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('expires_at', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', idp.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_pk'], ['clients.id'], name=op.f('fk_pushed_authorization_requests_client_pk_clients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pushed_authorization_requests')),
    sa.UniqueConstraint('uri_digest', name=op.f('uq_pushed_authorization_requests_uri_digest'))
    )
    with op.batch_alter_table('pushed_authorization_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pushed_authorization_requests_client_pk'), ['client_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_pushed_authorization_requests_expires_at'), ['expires_at'], unique=False)
    op.create_table('used_jtis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jti_digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_used_jtis')),
    sa.UniqueConstraint('jti_digest', name=op.f('uq_used_jtis_jti_digest'))
    )
    with op.batch_alter_table('used_jtis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_jtis_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('used_jtis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_jtis_expires_at'))
    op.drop_table('used_jtis')
    with op.batch_alter_table('pushed_authorization_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pushed_authorization_requests_expires_at'))
        batch_op.drop_index(batch_op.f('ix_pushed_authorization_requests_client_pk'))
    op.drop_table('pushed_authorization_requests')
    with op.batch_alter_table('authorization_codes') as batch:
        batch.drop_column('dpop_jkt')
    with op.batch_alter_table('refresh_token_families') as batch:
        batch.drop_column('dpop_jkt')
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('dpop_bound_access_tokens')
        batch.drop_column('require_pushed_authorization_requests')
        batch.drop_column('profile')
