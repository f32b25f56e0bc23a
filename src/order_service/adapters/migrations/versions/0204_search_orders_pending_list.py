"""Orders' search documents get GIN indexes of their own that buffer inserts (PostgreSQL only).

An order's document is written in the statement that accepts the order, on the busiest write
path. With `fastupdate = off` (0202) each document's ~20 lexemes and ~35 title trigrams, many
of them parts of random UUIDs, went one by one into the GIN trees: ~150 µs of PostgreSQL CPU
and ~10 kB of WAL per order, four to five times the order's own rows (docs/performance.md, "POST
/v1/orders: the orders' search documents"). The orders' documents now have partial GIN
indexes with a pending list (`fastupdate = on`): an insert appends to the list, and the list
is merged into the trees in bulk once it passes `gin_pending_list_limit` (or by (auto)vacuum).
Searches read the list too, so a new order is found at once; the list is kept small (1 MB) so
that reading it stays cheap. Users and products, written rarely, keep their `kind`-led
indexes without a pending list, now for their own kinds only.

The search adapter names the kind as a literal in each index's statement, so the planner can
match these partial indexes on a cached (generic) plan. SQLite's FTS5 index is unchanged.

Revision ID: 0204
Revises: 0203
Create Date: 2026-11-25
"""

from alembic import op

revision = "0204"
down_revision = "0203"
branch_labels = None
depends_on = None

_PENDING = "fastupdate = on, gin_pending_list_limit = 1024"  # kB
_UPGRADE = (
    "DROP INDEX ix_search_documents_document",
    "DROP INDEX ix_search_documents_title_trgm",
    "CREATE INDEX ix_search_documents_document ON search_documents "
    "USING gin (kind public.text_ops, document) WITH (fastupdate = off) WHERE kind <> 'orders'",
    "CREATE INDEX ix_search_documents_title_trgm ON search_documents "
    "USING gin (kind public.text_ops, title public.gin_trgm_ops) WITH (fastupdate = off) "
    "WHERE kind <> 'orders'",
    "CREATE INDEX ix_search_orders_document ON search_documents "
    f"USING gin (document) WITH ({_PENDING}) WHERE kind = 'orders'",
    "CREATE INDEX ix_search_orders_title_trgm ON search_documents "
    f"USING gin (title public.gin_trgm_ops) WITH ({_PENDING}) WHERE kind = 'orders'",
)
_DOWNGRADE = (
    "DROP INDEX ix_search_orders_document",
    "DROP INDEX ix_search_orders_title_trgm",
    "DROP INDEX ix_search_documents_document",
    "DROP INDEX ix_search_documents_title_trgm",
    "CREATE INDEX ix_search_documents_document ON search_documents "
    "USING gin (kind public.text_ops, document) WITH (fastupdate = off)",
    "CREATE INDEX ix_search_documents_title_trgm ON search_documents "
    "USING gin (kind public.text_ops, title public.gin_trgm_ops) WITH (fastupdate = off)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _DOWNGRADE:
            op.execute(statement)
