"""Migration 0203 gives every product an optional image and keeps the products already there."""

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from alembic import command

from order_service.adapters.migrations import alembic_config, migrate
from tests.conftest import PostgresSchema

INSERT = (
    "INSERT INTO products (sku, name, description, price_cents, currency, created_at) "
    "VALUES ('MUG-1', 'Mug', '', 900, 'EUR', '2026-01-01T00:00:00+00:00')"
)
PHOTO = "ab" * 32


def columns(connection: sqlite3.Connection) -> list[str]:
    return [row[1] for row in connection.execute("PRAGMA table_info(products)")]


def test_sqlite_products_survive_the_image_column_both_ways(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url, revision="0202")
    with sqlite3.connect(tmp_path / "db.sqlite") as connection:
        connection.execute(INSERT)

    migrate(url)

    with sqlite3.connect(tmp_path / "db.sqlite") as connection:
        assert connection.execute("SELECT sku, image_id FROM products").fetchall() == [
            ("MUG-1", None)
        ]
        connection.execute("UPDATE products SET image_id = ?", (PHOTO,))
    command.downgrade(alembic_config(url, None), "0202")
    with sqlite3.connect(tmp_path / "db.sqlite") as connection:
        assert "image_id" not in columns(connection)
        assert connection.execute("SELECT sku, price_cents FROM products").fetchall() == [
            ("MUG-1", 900)
        ]


@pytest.mark.postgres
async def test_postgres_products_survive_the_image_column_both_ways(
    postgres_schema: PostgresSchema,
) -> None:
    config = alembic_config(postgres_schema.dsn, postgres_schema.schema)
    await asyncio.to_thread(command.downgrade, config, "0202")
    connection = await asyncpg.connect(
        postgres_schema.dsn, server_settings={"search_path": postgres_schema.schema}
    )
    try:
        await connection.execute(INSERT.replace("'2026-01-01T00:00:00+00:00'", "now()"))

        await asyncio.to_thread(migrate, postgres_schema.dsn, schema=postgres_schema.schema)

        rows = await connection.fetch("SELECT sku, image_id FROM products")
        assert [tuple(row) for row in rows] == [("MUG-1", None)]
        await connection.execute("UPDATE products SET image_id = $1", PHOTO)
        await asyncio.to_thread(command.downgrade, config, "0202")
        names = await connection.fetchval(
            "SELECT array_agg(column_name::text) FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'products'",
            postgres_schema.schema,
        )
        assert "image_id" not in names
        assert await connection.fetchval("SELECT count(*) FROM products") == 1
    finally:
        await connection.close()
