"""lockouts: wrong-PIN failures and lock-outs in the database (they survive a Redis restart)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('lockouts',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('window_until', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('locked_at', sa.BigInteger(), nullable=True),
    sa.Column('locked_until', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('failures >= 0', name=op.f('ck_lockouts_failures_not_negative')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_lockouts'))
    )
    op.create_index(op.f('ix_lockouts_locked_until'), 'lockouts', ['locked_until'], unique=False)
    op.create_index(op.f('ix_lockouts_window_until'), 'lockouts', ['window_until'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_lockouts_window_until'), table_name='lockouts')
    op.drop_index(op.f('ix_lockouts_locked_until'), table_name='lockouts')
    op.drop_table('lockouts')
