"""Alembic's entry point: runs the migrations on an async engine (aiosqlite or asyncpg)."""

import asyncio

from alembic import context
from sqlalchemy import Connection, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

_url: str = context.config.attributes["url"]
_schema: str | None = context.config.attributes.get("schema")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        version_table_schema=_schema,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate() -> None:
    engine = create_async_engine(_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            if _schema:
                # The schema name is validated by the settings pattern before it gets here.
                await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{_schema}"'))
                await connection.execute(text(f'SET search_path TO "{_schema}"'))
                await connection.commit()
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


asyncio.run(_migrate())
