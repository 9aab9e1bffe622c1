"""customer care: payment corrections, held cheques, refunds, subscriber care

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('payment_corrections',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('payment_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.String(length=255), server_default='', nullable=False),
    sa.Column('entry_id', _ID, nullable=True),
    sa.Column('renewal_entry_id', _ID, nullable=True),
    sa.Column('shortfall_tvu', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("kind IN ('reverse', 'bounce', 'refund')", name=op.f('ck_payment_corrections_kind')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_corrections_payment_id_payments')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'],
                            name=op.f('fk_payment_corrections_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['renewal_entry_id'], ['journal_entries.id'],
                            name=op.f('fk_payment_corrections_renewal_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_corrections')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_payment_corrections_payment_id'))
    )
    op.create_index(op.f('ix_payment_corrections_created_at'), 'payment_corrections', ['created_at'])

    op.create_table('cheques',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('card', sa.String(length=20), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('payment_id', _ID, nullable=True),
    sa.Column('site', sa.String(length=32), server_default='', nullable=False),
    sa.Column('reason', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('held', 'cleared', 'bounced')", name=op.f('ck_cheques_status')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_cheques_amount_positive')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_cheques_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cheques')),
    sa.UniqueConstraint('ref', name=op.f('uq_cheques_ref'))
    )
    op.create_index(op.f('ix_cheques_status_created_at'), 'cheques', ['status', 'created_at'])

    op.create_table('refunds',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('payment_id', _ID, nullable=False),
    sa.Column('card', sa.String(length=20), nullable=True),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('entry_id', _ID, nullable=True),
    sa.Column('paid_ref', sa.String(length=64), nullable=True),
    sa.Column('paid_entry_id', _ID, nullable=True),
    sa.Column('requested_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('requested_at', sa.BigInteger(), nullable=False),
    sa.Column('paid_by', sa.String(length=64), nullable=True),
    sa.Column('paid_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('payable', 'paid')", name=op.f('ck_refunds_status')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_refunds_payment_id_payments')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_refunds_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['paid_entry_id'], ['journal_entries.id'],
                            name=op.f('fk_refunds_paid_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_refunds_payment_id'))
    )
    op.create_index(op.f('ix_refunds_status_requested_at'), 'refunds', ['status', 'requested_at'])

    op.create_table('subscriber_care',
    sa.Column('subscriber_id', _ID, nullable=False),
    sa.Column('region', sa.String(length=32), server_default='', nullable=False),
    sa.Column('suspended_at', sa.BigInteger(), nullable=True),
    sa.Column('suspend_reason', sa.String(length=255), server_default='', nullable=False),
    sa.Column('terminated_at', sa.BigInteger(), nullable=True),
    sa.Column('terminate_reason', sa.String(length=255), server_default='', nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                            name=op.f('fk_subscriber_care_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('subscriber_id', name=op.f('pk_subscriber_care'))
    )
    op.create_index(op.f('ix_subscriber_care_region'), 'subscriber_care', ['region'])


def downgrade() -> None:
    op.drop_index(op.f('ix_subscriber_care_region'), table_name='subscriber_care')
    op.drop_table('subscriber_care')
    op.drop_index(op.f('ix_refunds_status_requested_at'), table_name='refunds')
    op.drop_table('refunds')
    op.drop_index(op.f('ix_cheques_status_created_at'), table_name='cheques')
    op.drop_table('cheques')
    op.drop_index(op.f('ix_payment_corrections_created_at'), table_name='payment_corrections')
    op.drop_table('payment_corrections')
