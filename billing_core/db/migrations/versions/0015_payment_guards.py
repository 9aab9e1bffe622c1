"""payment guards: repeats of a transaction id with another amount or account

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_conflicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=24), nullable=False),
    sa.Column('provider_txid', sa.String(length=64), nullable=False),
    sa.Column('account_ref', sa.String(length=40), server_default='', nullable=False),
    sa.Column('msisdn', sa.String(length=20), server_default='', nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('raw', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_conflicts_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_conflicts')),
    sa.UniqueConstraint('payment_id', 'account_ref', 'amount_minor', 'currency', name='uq_payment_conflicts_repeat')
    )
    with op.batch_alter_table('payment_conflicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_conflicts_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment_conflicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_conflicts_created_at'))
    op.drop_table('payment_conflicts')
