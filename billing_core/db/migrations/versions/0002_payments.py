"""payments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=24), nullable=False),
    sa.Column('provider_txid', sa.String(length=64), nullable=False),
    sa.Column('account_ref', sa.String(length=40), server_default='', nullable=False),
    sa.Column('card', sa.String(length=20), nullable=True),
    sa.Column('msisdn', sa.String(length=20), server_default='', nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('tvu', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=32), server_default='', nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('renewed', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('site', sa.String(length=32), server_default='', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('raw', sa.Text(), server_default='', nullable=False),
    sa.CheckConstraint("status IN ('credited', 'suspense', 'assigned', 'refund')", name=op.f('ck_payments_status')),
    sa.CheckConstraint('amount_minor >= 0', name=op.f('ck_payments_amount_not_negative')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_payments_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('provider', 'provider_txid', name=op.f('uq_payments_provider_provider_txid'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_card_created_at'), ['card', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_status_created_at'), ['status', 'created_at'], unique=False)

    op.create_table('payment_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('provider', sa.String(length=24), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=True),
    sa.Column('card', sa.String(length=20), nullable=False),
    sa.Column('msisdn', sa.String(length=20), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='pending', nullable=False),
    sa.Column('result_code', sa.String(length=16), server_default='', nullable=False),
    sa.Column('result_desc', sa.String(length=255), server_default='', nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('polls', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_poll_at', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'successful', 'failed')", name=op.f('ck_payment_requests_status')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_requests_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_requests')),
    sa.UniqueConstraint('provider', 'provider_ref', name=op.f('uq_payment_requests_provider_provider_ref')),
    sa.UniqueConstraint('reference', name=op.f('uq_payment_requests_reference'))
    )
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_requests_status_next_poll_at'), ['status', 'next_poll_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_requests_status_next_poll_at'))

    op.drop_table('payment_requests')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_status_created_at'))
        batch_op.drop_index(batch_op.f('ix_payments_created_at'))
        batch_op.drop_index(batch_op.f('ix_payments_card_created_at'))

    op.drop_table('payments')
