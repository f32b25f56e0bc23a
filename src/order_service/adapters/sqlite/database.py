"""The embedded store: one SQLite file in WAL mode, opened once per process."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///relative/or/absolute/path` URL."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a sqlite URL: {url}")
    return Path(url.removeprefix(prefix))


@asynccontextmanager
async def open_sqlite(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A connection in autocommit mode: each statement commits alone unless BEGIN is sent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = await aiosqlite.connect(path, isolation_level=None)
    try:
        # WAL lets readers in other worker processes proceed while one writes; busy_timeout makes
        # a writer wait for the lock instead of failing at once.
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA busy_timeout=5000")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        yield connection
    finally:
        await connection.close()


async def ping_sqlite(connection: aiosqlite.Connection) -> None:
    async with connection.execute("SELECT 1") as cursor:
        await cursor.fetchone()


def sqlite_values(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """uuids and datetimes as the text SQLite stores (ISO 8601 keeps time order)."""
    return tuple(
        str(v) if isinstance(v, uuid.UUID) else v.isoformat() if hasattr(v, "isoformat") else v
        for v in values
    )
