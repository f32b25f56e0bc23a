"""Schema migrations with Alembic, one history for SQLite and PostgreSQL.

Each capability owns a numbered range of revisions (users 0001, orders 01xx, search 02xx,
images 03xx) that branches from the revision it needs, so `migrate()` upgrades to every head.

`migrate()` is synchronous and starts its own event loop: run it from the CLI, or from async
code through `asyncio.to_thread`.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config

from order_service.adapters.sqlite.database import sqlite_path


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy URL (async driver) for one of our database URLs."""
    if database_url.startswith("sqlite:///"):
        return f"sqlite+aiosqlite:///{sqlite_path(database_url)}"
    for scheme in ("postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            return "postgresql+asyncpg://" + database_url.removeprefix(scheme)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")


def alembic_config(database_url: str, schema: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["url"] = sqlalchemy_url(database_url)
    config.attributes["schema"] = schema
    return config


def migrate(database_url: str, *, schema: str | None = None, revision: str = "heads") -> None:
    """Bring the database to `revision`, creating the SQLite file or PostgreSQL schema if needed."""
    if database_url.startswith("sqlite:///"):
        sqlite_path(database_url).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url, schema), revision)
