"""The placing request's W3C trace context on each outbox entry, so dispatch spans link to it.

Revision ID: 0102
Revises: 0101
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0102"
down_revision = "0101"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: entries written before this revision, and requests without a trace, have none.
    op.add_column("order_outbox", sa.Column("trace_context", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_outbox") as batch:
        batch.drop_column("trace_context")
