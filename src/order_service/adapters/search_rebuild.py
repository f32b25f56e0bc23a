"""`order-service reindex`: rebuild the users, products and orders search documents.

Indexing after a write is best effort (application.search.index_quietly); this is the repair.
Documents are built by the same domain functions the use cases use, so a rebuilt index is the
one the writes would have produced.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from order_service.adapters.order_rows import ORDER_COLUMNS, order_from_row
from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.search_index import PostgresSearchIndexer
from order_service.adapters.product_rows import PRODUCT_COLUMNS, product_from_row
from order_service.adapters.sqlite.database import open_sqlite, sqlite_path
from order_service.adapters.sqlite.search_index import SqliteSearchIndexer
from order_service.application.search import SearchIndexer
from order_service.domain.search import SearchDocument, user_document

_USERS = "SELECT id, email, name FROM users"
_PRODUCTS = f"SELECT {PRODUCT_COLUMNS} FROM products"  # noqa: S608 - constant columns
_ORDERS = f"SELECT {ORDER_COLUMNS} FROM orders"  # noqa: S608 - constant columns

Rows = Callable[[str], Awaitable[list[tuple[Any, ...]]]]


async def rebuild_search(database_url: str, *, schema: str | None, timeout: float) -> int:
    """Re-index every user, product and order; returns how many documents were written."""
    async with _open(database_url, schema=schema, timeout=timeout) as (rows, indexer):
        documents: list[SearchDocument] = [
            user_document(user_id=uuid.UUID(str(user_id)), email=email, name=name)
            for user_id, email, name in await rows(_USERS)
        ]
        products = await rows(_PRODUCTS)
        documents += [product_from_row(*row).search_document() for row in products]
        documents += [order_from_row(row).search_document() for row in await rows(_ORDERS)]
        for document in documents:
            await indexer.put(document)
    return len(documents)


@asynccontextmanager
async def _open(
    database_url: str, *, schema: str | None, timeout: float
) -> AsyncIterator[tuple[Rows, SearchIndexer]]:
    if database_url.startswith("sqlite:///"):
        async with open_sqlite(sqlite_path(database_url)) as connection:

            async def sqlite_rows(sql: str) -> list[tuple[Any, ...]]:
                async with connection.execute(sql) as cursor:
                    return [tuple(row) for row in await cursor.fetchall()]

            yield sqlite_rows, SqliteSearchIndexer(connection)
        return
    async with open_postgres_pool(
        database_url, schema=schema, min_size=1, max_size=2, timeout=timeout
    ) as pool:

        async def postgres_rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in await pool.fetch(sql, timeout=timeout)]

        yield postgres_rows, PostgresSearchIndexer(pool, timeout=timeout)
