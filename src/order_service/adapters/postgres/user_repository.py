"""UserRepository on PostgreSQL."""

import uuid

import asyncpg

from order_service.adapters.user_rows import USER_COLUMNS, roles_to_text, user_from_row
from order_service.application.deadline import remaining
from order_service.domain.users import EmailAlreadyRegistered, User

_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = $1"  # noqa: S608
_BY_EMAIL = f"SELECT {USER_COLUMNS} FROM users WHERE email = $1"  # noqa: S608
_UPSERT = (
    f"INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "  # noqa: S608
    "ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, "
    "password_hash = excluded.password_hash, roles = excluded.roles, "
    "updated_at = excluded.updated_at"
)


class PostgresUserRepository:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        row = await self._pool.fetchrow(_BY_ID, user_id, timeout=remaining(self._timeout))
        return None if row is None else user_from_row(*row)

    async def get_by_email(self, email: str) -> User | None:
        row = await self._pool.fetchrow(_BY_EMAIL, email, timeout=remaining(self._timeout))
        return None if row is None else user_from_row(*row)

    async def save(self, user: User) -> None:
        try:
            await self._pool.execute(
                _UPSERT,
                user.id,
                user.email,
                user.name,
                user.password_hash,
                roles_to_text(user.roles),
                user.created_at,
                user.updated_at,
                timeout=remaining(self._timeout),
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name == "uq_users_email":
                raise EmailAlreadyRegistered from None
            raise
