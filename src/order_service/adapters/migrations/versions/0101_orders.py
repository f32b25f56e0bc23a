"""Orders of the order router and their transactional outbox.

Revision ID: 0101
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = "0001"
branch_labels = ("orders",)
depends_on = None

# Native types on PostgreSQL; text and epoch seconds on SQLite, as the SQLite adapter stores them.
ID = sa.Uuid().with_variant(sa.String(36), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.Text(), "sqlite")
INSTANT = sa.DateTime(timezone=True).with_variant(sa.Float(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", ID, primary_key=True),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("provider_ref", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("customer_id", "idempotency_key", name="uq_orders_customer_key"),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id", "id"])
    op.create_index("ix_orders_status_id", "orders", ["status", "id"])
    op.create_table(
        "order_outbox",
        sa.Column(
            "order_id",
            ID,
            sa.ForeignKey("orders.id", name="fk_order_outbox_order", ondelete="CASCADE"),
            primary_key=True,
        ),
        # Due time; a claim moves it to the lease's expiry, so one index finds claimable work.
        sa.Column("available_at", INSTANT, nullable=False),
        sa.Column("lease_token", ID, nullable=True),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", INSTANT, nullable=False),
    )
    op.create_index("ix_order_outbox_available_at", "order_outbox", ["available_at"])


def downgrade() -> None:
    op.drop_table("order_outbox")
    op.drop_table("orders")
