"""dealer replay: seen request signatures of the dealer API, shared by every process

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dealer_signatures',
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), server_default='', nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('signature', name=op.f('pk_dealer_signatures'))
    )
    with op.batch_alter_table('dealer_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dealer_signatures_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dealer_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dealer_signatures_expires_at'))
    op.drop_table('dealer_signatures')
