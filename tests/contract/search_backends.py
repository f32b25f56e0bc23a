"""The search and catalogue stores under test: in-memory fake, SQLite and PostgreSQL."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from order_service.adapters.migrations import migrate
from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.product_repository import PostgresProductRepository
from order_service.adapters.postgres.search_index import PostgresSearchIndex, PostgresSearchIndexer
from order_service.adapters.sqlite.database import open_sqlite
from order_service.adapters.sqlite.product_repository import SqliteProductRepository
from order_service.adapters.sqlite.search_index import SqliteSearchIndex, SqliteSearchIndexer
from order_service.application.products import ProductRepository
from order_service.application.search import SearchIndex, SearchIndexer
from order_service.domain.search import IndexName
from tests.conftest import PostgresSchema
from tests.fakes.search import InMemoryProductRepository, InMemorySearchStore


@dataclass
class SearchBackend:
    indexer: SearchIndexer
    index: Callable[[IndexName], SearchIndex]
    products: ProductRepository
    pool: asyncpg.Pool | None = None


@asynccontextmanager
async def memory_backend() -> AsyncIterator[SearchBackend]:
    store = InMemorySearchStore()
    yield SearchBackend(store, store.index, InMemoryProductRepository())


def migrated_sqlite(directory: Path) -> Path:
    """A migrated SQLite file; call outside the event loop (migrate runs its own)."""
    path = directory / "search.db"
    migrate(f"sqlite:///{path}")
    return path


@asynccontextmanager
async def sqlite_backend(path: Path) -> AsyncIterator[SearchBackend]:
    async with open_sqlite(path) as connection:
        yield SearchBackend(
            SqliteSearchIndexer(connection),
            lambda name: SqliteSearchIndex(connection, name),
            SqliteProductRepository(connection),
        )


@asynccontextmanager
async def postgres_backend(
    schema: PostgresSchema, *, max_size: int = 4
) -> AsyncIterator[SearchBackend]:
    async with open_postgres_pool(
        schema.dsn, schema=schema.schema, min_size=1, max_size=max_size, timeout=5.0
    ) as pool:
        yield SearchBackend(
            PostgresSearchIndexer(pool, timeout=5.0),
            lambda name: PostgresSearchIndex(pool, name, timeout=5.0),
            PostgresProductRepository(pool, timeout=5.0),
            pool,
        )
