"""outbox leases, reminders and free-TV grants

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.BigInteger(), nullable=True))

    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_refresh_at', sa.BigInteger(), nullable=True))

    op.create_table('reminders',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('subscriber_id', _ID, nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_reminders_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders')),
    sa.UniqueConstraint('subscriber_id', 'expires_at', 'days', name=op.f('uq_reminders_subscriber_id_expires_at_days'))
    )

    op.create_table('day_grants',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('subscriber_id', _ID, nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('expires_before', sa.BigInteger(), nullable=True),
    sa.Column('expires_after', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_day_grants_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_day_grants'))
    )
    with op.batch_alter_table('day_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_day_grants_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_day_grants_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('worker_leases',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=96), server_default='', nullable=False),
    sa.Column('lease_until', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_leases'))
    )


def downgrade() -> None:
    op.drop_table('worker_leases')
    with op.batch_alter_table('day_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_day_grants_subscriber_id'))
        batch_op.drop_index(batch_op.f('ix_day_grants_created_at'))

    op.drop_table('day_grants')
    op.drop_table('reminders')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_column('last_refresh_at')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
