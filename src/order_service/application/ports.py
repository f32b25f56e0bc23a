"""The ports shared by several use cases. A port is the narrowest contract a use case needs."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from order_service.domain.users import Role, User


class Clock(Protocol):
    def __call__(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class UserRepository(Protocol):
    """Users by id and by normalised email.

    `save` inserts or updates by id and raises EmailAlreadyRegistered when another user
    already has the email, even when two saves race.
    """

    async def get_by_id(self, user_id: uuid.UUID) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def save(self, user: User) -> None: ...


class PasswordHasher(Protocol):
    """Slow, salted password hashing; implementations keep the event loop free."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with weaker parameters than the current ones."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as proven by a verified access token."""

    subject: uuid.UUID
    roles: frozenset[Role]

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class TokenIssuer(Protocol):
    def issue(self, principal: Principal) -> IssuedToken: ...


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """Return the token's principal, or raise Unauthenticated saying what was wrong."""
        ...


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """One thing whose failures are counted (an email, a client address) and its limit."""

    key: str
    max_failures: int


class FailureThrottle(Protocol):
    """Counts failures per key in a sliding window; used to slow down password guessing."""

    async def retry_after(self, keys: Sequence[ThrottleKey]) -> float:
        """Seconds until the most limited key may try again; 0 when all may try now."""
        ...

    async def record_failure(self, keys: Sequence[ThrottleKey]) -> None: ...

    async def reset(self, key: str) -> None: ...
