"""dealers, float, credentials, idempotency and top-ups

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('dealers',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('commission_bp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('parent_id', _ID, nullable=True),
    sa.Column('status', sa.String(length=12), server_default='active', nullable=False),
    sa.Column('balance_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('daily_limit_minor', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('balance_minor >= 0', name=op.f('ck_dealers_float_not_negative')),
    sa.CheckConstraint('commission_bp >= 0 AND commission_bp <= 10000', name=op.f('ck_dealers_commission')),
    sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f('ck_dealers_status')),
    sa.CheckConstraint('daily_limit_minor IS NULL OR daily_limit_minor > 0', name=op.f('ck_dealers_daily_limit')),
    sa.ForeignKeyConstraint(['parent_id'], ['dealers.id'], name=op.f('fk_dealers_parent_id_dealers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dealers'))
    )
    with op.batch_alter_table('dealers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dealers_parent_id'), ['parent_id'], unique=False)

    op.create_table('dealer_sites',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('dealer_id', _ID, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('region', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_dealer_sites_dealer_id_dealers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dealer_sites')),
    sa.UniqueConstraint('dealer_id', 'name', name=op.f('uq_dealer_sites_dealer_id_name'))
    )

    op.create_table('dealer_keys',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('dealer_id', _ID, nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_dealer_keys_dealer_id_dealers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dealer_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_dealer_keys_key_id'))
    )
    with op.batch_alter_table('dealer_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dealer_keys_dealer_id'), ['dealer_id'], unique=False)

    op.create_table('dealer_commissions',
    sa.Column('dealer_id', _ID, nullable=False),
    sa.Column('package_id', _ID, nullable=False),
    sa.Column('commission_bp', sa.Integer(), nullable=False),
    sa.CheckConstraint('commission_bp >= 0 AND commission_bp <= 10000', name=op.f('ck_dealer_commissions_commission')),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_dealer_commissions_dealer_id_dealers')),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], name=op.f('fk_dealer_commissions_package_id_packages')),
    sa.PrimaryKeyConstraint('dealer_id', 'package_id', name=op.f('pk_dealer_commissions'))
    )

    op.create_table('dealer_topups',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('dealer_id', _ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('card', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('package_code', sa.String(length=32), nullable=True),
    sa.Column('tvu', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('face_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('commission_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('site', sa.String(length=64), server_default='', nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('renewed', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('entry_id', _ID, nullable=True),
    sa.Column('response_status', sa.Integer(), server_default='0', nullable=False),
    sa.Column('response', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('reversed_at', sa.BigInteger(), nullable=True),
    sa.Column('reversal_entry_id', _ID, nullable=True),
    sa.Column('reversal_reason', sa.String(length=255), server_default='', nullable=False),
    sa.CheckConstraint("kind IN ('tvu', 'package', 'amount')", name=op.f('ck_dealer_topups_kind')),
    sa.CheckConstraint("status IN ('pending', 'done', 'reversed')", name=op.f('ck_dealer_topups_status')),
    sa.CheckConstraint('commission_minor >= 0 AND commission_minor <= face_minor',
                       name=op.f('ck_dealer_topups_commission')),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_dealer_topups_dealer_id_dealers')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'],
                            name=op.f('fk_dealer_topups_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['reversal_entry_id'], ['journal_entries.id'],
                            name=op.f('fk_dealer_topups_reversal_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dealer_topups')),
    sa.UniqueConstraint('dealer_id', 'idempotency_key', name=op.f('uq_dealer_topups_dealer_id_idempotency_key'))
    )
    with op.batch_alter_table('dealer_topups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dealer_topups_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dealer_topups_dealer_id_created_at'), ['dealer_id', 'created_at'],
                              unique=False)

    op.create_table('dealer_days',
    sa.Column('dealer_id', _ID, nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('sold_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_dealer_days_dealer_id_dealers')),
    sa.PrimaryKeyConstraint('dealer_id', 'day', name=op.f('pk_dealer_days'))
    )


def downgrade() -> None:
    op.drop_table('dealer_days')
    with op.batch_alter_table('dealer_topups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dealer_topups_dealer_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_dealer_topups_created_at'))
    op.drop_table('dealer_topups')
    op.drop_table('dealer_commissions')
    with op.batch_alter_table('dealer_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dealer_keys_dealer_id'))
    op.drop_table('dealer_keys')
    op.drop_table('dealer_sites')
    with op.batch_alter_table('dealers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dealers_parent_id'))
    op.drop_table('dealers')
