"""pay-per-view events, add-ons and package changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), server_default='base', nullable=False))

    op.create_table('ppv_events',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('starts_at', sa.BigInteger(), nullable=False),
    sa.Column('ends_at', sa.BigInteger(), nullable=False),
    sa.Column('tvu', sa.BigInteger(), nullable=False),
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), server_default='scheduled', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('cancelled_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_ppv_events_window')),
    sa.CheckConstraint('tvu > 0', name=op.f('ck_ppv_events_tvu_positive')),
    sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name=op.f('ck_ppv_events_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ppv_events')),
    sa.UniqueConstraint('code', name=op.f('uq_ppv_events_code'))
    )
    with op.batch_alter_table('ppv_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ppv_events_status_starts_at'), ['status', 'starts_at'], unique=False)

    op.create_table('ppv_purchases',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('event_id', _ID, nullable=False),
    sa.Column('subscriber_id', _ID, nullable=False),
    sa.Column('tvu', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('msisdn', sa.String(length=20), server_default='', nullable=False),
    sa.Column('entry_id', _ID, nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.Column('refunded_at', sa.BigInteger(), nullable=True),
    sa.Column('refund_entry_id', _ID, nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['ppv_events.id'], name=op.f('fk_ppv_purchases_event_id_ppv_events')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                            name=op.f('fk_ppv_purchases_subscriber_id_subscribers')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'],
                            name=op.f('fk_ppv_purchases_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['refund_entry_id'], ['journal_entries.id'],
                            name=op.f('fk_ppv_purchases_refund_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ppv_purchases')),
    sa.UniqueConstraint('subscriber_id', 'event_id', name=op.f('uq_ppv_purchases_subscriber_id_event_id'))
    )
    with op.batch_alter_table('ppv_purchases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ppv_purchases_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ppv_purchases_revoked_at_event_id'), ['revoked_at', 'event_id'],
                              unique=False)

    op.create_table('subscriptions_addons',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('subscriber_id', _ID, nullable=False),
    sa.Column('package_id', _ID, nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('aligned', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'expired')", name=op.f('ck_subscriptions_addons_status')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'],
                            name=op.f('fk_subscriptions_addons_subscriber_id_subscribers')),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'],
                            name=op.f('fk_subscriptions_addons_package_id_packages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions_addons')),
    sa.UniqueConstraint('subscriber_id', 'package_id',
                        name=op.f('uq_subscriptions_addons_subscriber_id_package_id'))
    )
    with op.batch_alter_table('subscriptions_addons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_addons_status_expires_at'), ['status', 'expires_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscriptions_addons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_addons_status_expires_at'))
    op.drop_table('subscriptions_addons')
    with op.batch_alter_table('ppv_purchases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ppv_purchases_revoked_at_event_id'))
        batch_op.drop_index(batch_op.f('ix_ppv_purchases_event_id'))
    op.drop_table('ppv_purchases')
    with op.batch_alter_table('ppv_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ppv_events_status_starts_at'))
    op.drop_table('ppv_events')
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.drop_column('kind')
