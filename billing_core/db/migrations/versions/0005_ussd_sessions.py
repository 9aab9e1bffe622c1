"""USSD session log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('ussd_steps',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('msisdn', sa.String(length=20), nullable=False),
    sa.Column('hop', sa.Integer(), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('input', sa.String(length=64), nullable=False),
    sa.Column('screen', sa.String(length=200), nullable=False),
    sa.Column('elapsed_us', sa.Integer(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ussd_steps'))
    )
    op.create_index(op.f('ix_ussd_steps_session_id_hop'), 'ussd_steps', ['session_id', 'hop'], unique=False)
    op.create_index(op.f('ix_ussd_steps_msisdn_at'), 'ussd_steps', ['msisdn', 'at'], unique=False)
    op.create_index(op.f('ix_ussd_steps_at'), 'ussd_steps', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ussd_steps_at'), table_name='ussd_steps')
    op.drop_index(op.f('ix_ussd_steps_msisdn_at'), table_name='ussd_steps')
    op.drop_index(op.f('ix_ussd_steps_session_id_hop'), table_name='ussd_steps')
    op.drop_table('ussd_steps')
