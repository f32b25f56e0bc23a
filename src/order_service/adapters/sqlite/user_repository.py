"""UserRepository on SQLite."""

import sqlite3
import uuid

import aiosqlite

from order_service.adapters.user_rows import USER_COLUMNS, roles_to_text, user_from_row
from order_service.domain.users import EmailAlreadyRegistered, User


class SqliteUserRepository:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        return await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", str(user_id))  # noqa: S608

    async def get_by_email(self, email: str) -> User | None:
        return await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", email)  # noqa: S608

    async def save(self, user: User) -> None:
        try:
            await self._db.execute(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
                "ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, "
                "password_hash = excluded.password_hash, roles = excluded.roles, "
                "updated_at = excluded.updated_at",
                (
                    str(user.id),
                    user.email,
                    user.name,
                    user.password_hash,
                    roles_to_text(user.roles),
                    user.created_at.isoformat(),
                    user.updated_at.isoformat(),
                ),
            )
        except sqlite3.IntegrityError as error:
            if "users.email" in str(error):
                raise EmailAlreadyRegistered from None
            raise

    async def _one(self, sql: str, key: str) -> User | None:
        async with self._db.execute(sql, (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else user_from_row(*row)
