"""verified contacts, password resets, known devices

Contacts that were typed but never proven leave ``citizens.email`` / ``citizens.phone`` for
``contact_claims`` (no code sent yet): from this revision on, only proven contacts sign in,
recover an account or receive notices. The citizen proves them from the account page.

Revision ID: notify_contacts
Revises: notify_outbox
Create Date: 2026-12-04 06:00:00

"""
from alembic import op
import sqlalchemy as sa
import idp.db.types


revision = 'notify_contacts'
down_revision = 'notify_outbox'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_new_device', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('registry_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', idp.db.types.NFCString(length=254), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
    op.create_table('contact_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('value', idp.db.types.NFCString(length=320), nullable=False),
    sa.Column('code_digest', sa.String(length=64), nullable=True),
    sa.Column('expires_at', idp.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_contact_claims_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_claims')),
    sa.UniqueConstraint('citizen_id', 'kind', name='uq_contact_claims_citizen_id')
    )
    op.create_table('password_resets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('code_digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', idp.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_password_resets_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_resets'))
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_resets_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_password_resets_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_password_resets_key_digest'), ['key_digest'], unique=False)
    op.create_table('known_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('browser', sa.String(length=100), nullable=True),
    sa.Column('first_seen', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', idp.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_known_devices_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_known_devices')),
    sa.UniqueConstraint('citizen_id', 'digest', name='uq_known_devices_citizen_id')
    )
    with op.batch_alter_table('known_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_known_devices_last_seen'), ['last_seen'], unique=False)

    # Unproven contacts become claims; the account keeps only proven ones.
    citizens = sa.table('citizens', sa.column('id', sa.Integer), sa.column('email', sa.String),
                        sa.column('email_verified', sa.Boolean), sa.column('phone', sa.String),
                        sa.column('phone_verified', sa.Boolean))
    claims = sa.table('contact_claims', sa.column('citizen_id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('value', sa.String), sa.column('attempts', sa.Integer),
                      sa.column('created_at', idp.db.types.UTCDateTime()))
    now = idp.db.types.utcnow()
    for column, flag, kind in (('email', 'email_verified', 'email'), ('phone', 'phone_verified', 'phone')):
        unproven = sa.and_(citizens.c[column].is_not(None), citizens.c[flag].is_(sa.false()))
        op.execute(claims.insert().from_select(
            ['citizen_id', 'kind', 'value', 'attempts', 'created_at'],
            sa.select(citizens.c.id, sa.literal(kind), citizens.c[column], sa.literal(0),
                      sa.literal(now, idp.db.types.UTCDateTime())).where(unproven)))
        op.execute(citizens.update().where(unproven).values({column: None}))


def downgrade():
    op.drop_table('known_devices')
    op.drop_table('password_resets')
    op.drop_table('contact_claims')
    with op.batch_alter_table('registry_entries', schema=None) as batch_op:
        batch_op.drop_column('phone')
        batch_op.drop_column('email')
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.drop_column('notify_new_device')
