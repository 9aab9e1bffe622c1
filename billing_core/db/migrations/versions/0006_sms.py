"""SMS messages and delivery receipts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('sms_messages',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('msisdn', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='queued', nullable=False),
    sa.Column('provider_message_id', sa.String(length=64), nullable=True),
    sa.Column('message_ref', sa.String(length=64), nullable=True),
    sa.Column('receipt_state', sa.String(length=16), server_default='', nullable=False),
    sa.Column('error', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.Column('sent_at', sa.BigInteger(), nullable=True),
    sa.Column('done_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'sent', 'delivered', 'failed')", name=op.f('ck_sms_messages_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages')),
    sa.UniqueConstraint('event_id', 'part', name=op.f('uq_sms_messages_event_id_part')),
    sa.UniqueConstraint('provider', 'message_ref', name=op.f('uq_sms_messages_provider_message_ref'))
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_messages_status_updated_at'), ['status', 'updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_messages_status_updated_at'))

    op.drop_table('sms_messages')
