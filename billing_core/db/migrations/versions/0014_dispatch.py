"""dispatch: on PostgreSQL, a NOTIFY on tvtopup_outbox when outbox rows are inserted

An idle dispatcher sleeps; its own process wakes it after a commit that enqueued events,
and this trigger tells the dispatchers of every other process (they LISTEN on the
channel, ``tv_notify.dispatcher``). One notice per statement, delivered at COMMIT (and
not at all after a rollback); PostgreSQL folds identical notices of one transaction.
SQLite has no such channel: other processes' dispatchers find new events by their timer.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

CHANNEL = "tvtopup_outbox"  # billing_core.db.outbox_store.CHANNEL


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION tvtopup_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
               "FOR EACH STATEMENT EXECUTE FUNCTION tvtopup_outbox_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS tvtopup_outbox_notify()")
