"""The one mapping between a `users` row and a User, shared by the SQL adapters."""

import functools
import uuid
from datetime import datetime

from order_service.domain.users import Role, User

USER_COLUMNS = "id, email, name, password_hash, roles, created_at, updated_at"


def roles_to_text(roles: frozenset[Role]) -> str:
    return ",".join(sorted(roles))


@functools.lru_cache(maxsize=64)
def roles_from_text(text: str) -> frozenset[Role]:
    """One shared set per stored combination of roles (a handful exist), not one per row."""
    return frozenset(Role(role) for role in text.split(",") if role)


def user_from_row(  # noqa: PLR0917 - the columns of a row, in order
    user_id: uuid.UUID | str,
    email: str,
    name: str,
    password_hash: str,
    roles: str,
    created_at: datetime | str,
    updated_at: datetime | str,
) -> User:
    return User(
        id=user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(user_id),
        email=email,
        name=name,
        password_hash=password_hash,
        roles=roles_from_text(roles),
        created_at=_as_datetime(created_at),
        updated_at=_as_datetime(updated_at),
    )


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
