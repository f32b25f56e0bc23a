"""One suite, three adapters: the fake, SQLite and PostgreSQL behave the same."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from order_service.adapters.migrations import migrate
from order_service.adapters.postgres.database import open_postgres_pool
from order_service.adapters.postgres.user_repository import PostgresUserRepository
from order_service.adapters.sqlite.database import open_sqlite
from order_service.adapters.sqlite.user_repository import SqliteUserRepository
from order_service.application.ports import UserRepository
from order_service.domain.ids import new_id
from order_service.domain.users import EmailAlreadyRegistered, Role, User
from tests.conftest import PostgresSchema
from tests.fakes.users import InMemoryUserRepository

NOW = datetime(2026, 11, 24, 12, 30, 15, 123456, tzinfo=UTC)


def a_user(email: str = "ada@example.com", **changes: object) -> User:
    user = User(
        id=new_id(),
        email=email,
        name="Ada Lovelace",
        password_hash="$argon2id$v=19$m=1$x$y",
        roles=frozenset({Role.CUSTOMER}),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(user, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def users(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UserRepository]:
    if request.param == "memory":
        yield InMemoryUserRepository()
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'users.db'}"
        await asyncio.to_thread(migrate, url)
        async with open_sqlite(tmp_path / "users.db") as connection:
            yield SqliteUserRepository(connection)
    else:
        schema: PostgresSchema = request.getfixturevalue("postgres_schema")
        async with open_postgres_pool(
            schema.dsn, schema=schema.schema, min_size=1, max_size=4, timeout=5
        ) as pool:
            yield PostgresUserRepository(pool, timeout=5)


async def test_a_saved_user_reads_back_equal_by_id_and_by_email(users: UserRepository) -> None:
    ada = a_user(roles=frozenset({Role.CUSTOMER, Role.ADMIN}))
    await users.save(ada)

    by_id = await users.get_by_id(ada.id)
    by_email = await users.get_by_email("ada@example.com")

    assert by_id == ada
    assert by_email == ada
    assert by_id is not None
    assert by_id.created_at == NOW
    assert by_id.created_at.utcoffset() == timedelta(0)


async def test_missing_users_read_as_none(users: UserRepository) -> None:
    await users.save(a_user())
    assert await users.get_by_id(new_id()) is None
    assert await users.get_by_email("nobody@example.com") is None


async def test_saving_again_updates_the_user(users: UserRepository) -> None:
    ada = a_user()
    await users.save(ada)
    renamed = replace(
        ada,
        name="Countess of Lovelace",
        password_hash="$argon2id$new",
        updated_at=NOW + timedelta(hours=1),
    )

    await users.save(renamed)

    stored = await users.get_by_id(ada.id)
    assert stored is not None
    assert (stored.name, stored.password_hash) == ("Countess of Lovelace", "$argon2id$new")
    assert stored.updated_at == NOW + timedelta(hours=1)


async def test_a_second_user_with_the_same_email_is_refused(users: UserRepository) -> None:
    await users.save(a_user())
    with pytest.raises(EmailAlreadyRegistered):
        await users.save(a_user())
    assert await users.get_by_email("ada@example.com") is not None


async def test_racing_registrations_of_one_email_store_exactly_one(users: UserRepository) -> None:
    contenders = [a_user() for _ in range(5)]

    results = await asyncio.gather(*(users.save(u) for u in contenders), return_exceptions=True)

    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, EmailAlreadyRegistered) for r in results if r is not None)
    stored = [await users.get_by_id(u.id) for u in contenders]
    assert sum(s is not None for s in stored) == 1
