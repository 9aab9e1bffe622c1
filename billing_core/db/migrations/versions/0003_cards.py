"""scratch-card batches, cards and redemptions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('card_batches',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('tvu', sa.BigInteger(), nullable=True),
    sa.Column('package_id', ID, nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=True),
    sa.Column('pin_length', sa.SmallInteger(), nullable=False),
    sa.Column('key_version', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('generated_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("kind IN ('tvu', 'package')", name=op.f('ck_card_batches_kind')),
    sa.CheckConstraint("state IN ('generating', 'generated')", name=op.f('ck_card_batches_state')),
    sa.CheckConstraint('count > 0', name=op.f('ck_card_batches_count_positive')),
    sa.CheckConstraint("(kind = 'tvu' AND tvu > 0 AND package_id IS NULL)"
                       " OR (kind = 'package' AND tvu IS NULL AND package_id IS NOT NULL)",
                       name=op.f('ck_card_batches_value')),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], name=op.f('fk_card_batches_package_id_packages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_batches')),
    sa.UniqueConstraint('name', name=op.f('uq_card_batches_name'))
    )

    op.create_table('cards',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('batch_id', ID, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('pin_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('key_version', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.String(length=10), server_default='generated', nullable=False),
    sa.Column('value_tvu', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=True),
    sa.Column('dealer', sa.String(length=64), nullable=True),
    sa.Column('activated_at', sa.BigInteger(), nullable=True),
    sa.Column('blocked_at', sa.BigInteger(), nullable=True),
    sa.Column('redeemed_at', sa.BigInteger(), nullable=True),
    sa.Column('redeemed_msisdn', sa.String(length=20), nullable=True),
    sa.Column('redeemed_card', sa.String(length=20), nullable=True),
    sa.Column('redeemed_channel', sa.String(length=16), nullable=True),
    sa.Column('entry_id', ID, nullable=True),
    sa.CheckConstraint("state IN ('generated', 'activated', 'redeemed', 'blocked')", name=op.f('ck_cards_state')),
    sa.CheckConstraint('value_tvu >= 0', name=op.f('ck_cards_value_not_negative')),
    sa.ForeignKeyConstraint(['batch_id'], ['card_batches.id'], name=op.f('fk_cards_batch_id_card_batches')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_cards_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cards')),
    sa.UniqueConstraint('batch_id', 'seq', name=op.f('uq_cards_batch_id_seq')),
    sa.UniqueConstraint('pin_hash', name=op.f('uq_cards_pin_hash'))
    )


def downgrade() -> None:
    op.drop_table('cards')
    op.drop_table('card_batches')
