"""The orders' search documents on PostgreSQL (migration 0204): their GIN indexes buffer inserts
in a pending list, and an order is found both while its entries wait there and after they are
merged into the index."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from order_service.adapters.migrations import alembic_config, migrate
from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.order_repository import PostgresOrderRepository
from order_service.adapters.postgres.search_index import PostgresSearchIndex, PostgresSearchIndexer
from order_service.domain.ids import new_id
from order_service.domain.search import IndexName, SearchDocument, order_document, parse_query
from tests.conftest import PostgresSchema
from tests.fakes.orders import accepted_order

pytestmark = pytest.mark.postgres

ORDERS_INDEXES = ("ix_search_orders_document", "ix_search_orders_title_trgm")


@pytest.fixture
async def pool(postgres_schema: PostgresSchema) -> AsyncIterator[asyncpg.Pool]:
    async with open_postgres_pool(
        postgres_schema.dsn, schema=postgres_schema.schema, min_size=1, max_size=2, timeout=5
    ) as pool:
        yield pool


async def _found(pool: asyncpg.Pool, text: str) -> list[str]:
    index = PostgresSearchIndex(pool, IndexName.ORDERS, timeout=5)
    return [hit.id for hit in await index.search(parse_query(text), 10)]


async def _merge_pending(pool: asyncpg.Pool, index: str) -> int:
    """Merge an index's pending list into its tree; the number of list pages it emptied."""
    return int(await pool.fetchval(f"SELECT gin_clean_pending_list('{index}'::regclass)"))


async def test_a_placed_order_is_found_while_pending_and_after_the_merge(
    pool: asyncpg.Pool,
) -> None:
    order = accepted_order()
    await PostgresOrderRepository(pool, timeout=5).add(order)
    short_id = str(order.id)[-12:]

    assert await _found(pool, short_id) == [str(order.id)]
    assert await _merge_pending(pool, "ix_search_orders_document") >= 1  # it was pending
    assert await _found(pool, short_id) == [str(order.id)]


async def test_a_typo_finds_an_order_through_the_orders_trigram_index(pool: asyncpg.Pool) -> None:
    order_id = new_id()
    document = order_document(
        order_id=order_id, customer_id=new_id(), title="Order for Ada Lovelace", details="MUG-1"
    )
    await PostgresSearchIndexer(pool, timeout=5).put(document)

    assert await _found(pool, "lovelase") == [str(order_id)]
    assert await _merge_pending(pool, "ix_search_orders_title_trgm") >= 1
    assert await _found(pool, "lovelase") == [str(order_id)]


async def test_users_and_products_documents_stay_out_of_the_orders_indexes(
    pool: asyncpg.Pool,
) -> None:
    indexer = PostgresSearchIndexer(pool, timeout=5)
    for kind in IndexName:
        await indexer.put(SearchDocument(kind, str(new_id()), f"{kind} Lovelace", "notes"))
    merged = [await _merge_pending(pool, index) for index in ORDERS_INDEXES]

    assert merged == [1, 1]  # one document each, the order's: only it was buffered
    for kind in IndexName:
        hits = await PostgresSearchIndex(pool, kind, timeout=5).search(parse_query("lovelace"), 9)
        assert [hit.title for hit in hits] == [f"{kind} Lovelace"]


async def test_migration_0204_goes_down_and_up_again_keeping_the_orders_findable(
    pool: asyncpg.Pool, postgres_schema: PostgresSchema
) -> None:
    order = accepted_order()
    await PostgresOrderRepository(pool, timeout=5).add(order)
    config = alembic_config(postgres_schema.dsn, postgres_schema.schema)

    await asyncio.to_thread(command.downgrade, config, "0203")
    assert not await _indexes(pool, ORDERS_INDEXES)
    assert await _found(pool, str(order.id)[-12:]) == [str(order.id)]

    await asyncio.to_thread(migrate, postgres_schema.dsn, schema=postgres_schema.schema)
    assert await _indexes(pool, ORDERS_INDEXES) == sorted(ORDERS_INDEXES)
    assert await _found(pool, str(order.id)[-12:]) == [str(order.id)]


async def _indexes(pool: asyncpg.Pool, names: tuple[str, ...]) -> list[str]:
    rows = await pool.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND indexname = ANY($1::text[]) ORDER BY indexname",
        list(names),
    )
    return [row[0] for row in rows]
