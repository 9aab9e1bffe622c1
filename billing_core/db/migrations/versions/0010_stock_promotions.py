"""promotions, decoder stock, products and sites

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _indexes(table: str, *columns: tuple[str, ...]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for cols in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{'_'.join(cols)}"), list(cols), unique=False)


def upgrade() -> None:
    op.create_table('sites',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('region', sa.String(length=64), server_default='', nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("kind IN ('agency', 'technical')", name=op.f('ck_sites_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('code', name=op.f('uq_sites_code'))
    )
    _indexes('sites', ('region',))

    op.create_table('decoders',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('serial', sa.String(length=32), nullable=False),
    sa.Column('smartcard', sa.String(length=20), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('site_id', _ID, nullable=True),
    sa.Column('dealer_id', _ID, nullable=True),
    sa.Column('card', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("state IN ('in_stock', 'at_site', 'at_dealer', 'sold', 'installed', 'faulty', 'swapped')",
                       name=op.f('ck_decoders_state')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_decoders_site_id_sites')),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_decoders_dealer_id_dealers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decoders')),
    sa.UniqueConstraint('serial', name=op.f('uq_decoders_serial')),
    sa.UniqueConstraint('smartcard', name=op.f('uq_decoders_smartcard'))
    )
    _indexes('decoders', ('state', 'site_id'), ('card',))

    op.create_table('decoder_movements',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('decoder_id', _ID, nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_state', sa.String(length=12), nullable=True),
    sa.Column('to_state', sa.String(length=12), nullable=False),
    sa.Column('site_id', _ID, nullable=True),
    sa.Column('dealer_id', _ID, nullable=True),
    sa.Column('card', sa.String(length=20), nullable=True),
    sa.Column('note', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['decoder_id'], ['decoders.id'], name=op.f('fk_decoder_movements_decoder_id_decoders')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_decoder_movements_site_id_sites')),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_decoder_movements_dealer_id_dealers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decoder_movements'))
    )
    _indexes('decoder_movements', ('decoder_id', 'id'), ('created_at',))

    op.create_table('card_swaps',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('subscriber_id', _ID, nullable=False),
    sa.Column('old_card', sa.String(length=20), nullable=False),
    sa.Column('new_card', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_card_swaps_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_swaps'))
    )
    _indexes('card_swaps', ('old_card',), ('new_card',))

    op.create_table('products',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('code', name=op.f('uq_products_code'))
    )

    op.create_table('product_prices',
    sa.Column('product_id', _ID, nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('price_minor > 0', name=op.f('ck_product_prices_price_positive')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_prices_product_id_products')),
    sa.PrimaryKeyConstraint('product_id', 'currency', name=op.f('pk_product_prices'))
    )

    op.create_table('product_sales',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('product_id', _ID, nullable=False),
    sa.Column('site_id', _ID, nullable=True),
    sa.Column('dealer_id', _ID, nullable=True),
    sa.Column('card', sa.String(length=20), nullable=True),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('unit_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', _ID, nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('(site_id IS NULL) <> (dealer_id IS NULL)', name=op.f('ck_product_sales_one_seller')),
    sa.CheckConstraint('qty > 0', name=op.f('ck_product_sales_qty_positive')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_sales_product_id_products')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_product_sales_site_id_sites')),
    sa.ForeignKeyConstraint(['dealer_id'], ['dealers.id'], name=op.f('fk_product_sales_dealer_id_dealers')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'],
                            name=op.f('fk_product_sales_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_sales'))
    )
    _indexes('product_sales', ('created_at',))

    op.create_table('promotions',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('starts_at', sa.BigInteger(), nullable=False),
    sa.Column('ends_at', sa.BigInteger(), nullable=False),
    sa.Column('budget', sa.BigInteger(), nullable=False),
    sa.Column('spent', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('percent_bp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('min_minor', sa.BigInteger(), nullable=True),
    sa.Column('min_currency', sa.String(length=3), nullable=True),
    sa.Column('package_code', sa.String(length=32), server_default='', nullable=False),
    sa.Column('days', sa.Integer(), server_default='0', nullable=False),
    sa.Column('lapsed_days', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=8), server_default='active', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('ended_at', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("kind IN ('bonus', 'free_addon', 'discount', 'reconnect')", name=op.f('ck_promotions_kind')),
    sa.CheckConstraint("status IN ('active', 'ended')", name=op.f('ck_promotions_status')),
    sa.CheckConstraint('spent >= 0 AND spent <= budget', name=op.f('ck_promotions_within_budget')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_promotions_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions')),
    sa.UniqueConstraint('name', name=op.f('uq_promotions_name'))
    )

    op.create_table('promo_uses',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('promotion_id', _ID, nullable=False),
    sa.Column('card', sa.String(length=20), nullable=False),
    sa.Column('once_key', sa.String(length=64), nullable=True),
    sa.Column('cost', sa.BigInteger(), nullable=False),
    sa.Column('tvu', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('days', sa.Integer(), server_default='0', nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('entry_id', _ID, nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], name=op.f('fk_promo_uses_promotion_id_promotions')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_promo_uses_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promo_uses')),
    sa.UniqueConstraint('promotion_id', 'once_key', name=op.f('uq_promo_uses_promotion_id_once_key'))
    )
    _indexes('promo_uses', ('promotion_id', 'created_at'), ('card',))


def downgrade() -> None:
    for table in ('promo_uses', 'promotions', 'product_sales', 'product_prices', 'products', 'card_swaps',
                  'decoder_movements', 'decoders', 'sites'):
        op.drop_table(table)
