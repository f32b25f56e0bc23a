"""In-memory fakes of the Auth API's ports; they pass the same contract suites as the adapters."""

import uuid
from datetime import UTC, datetime, timedelta

from order_service.domain.users import EmailAlreadyRegistered, User


class InMemoryUserRepository:
    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        return self.users.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next((user for user in self.users.values() if user.email == email), None)

    async def save(self, user: User) -> None:
        taken = await self.get_by_email(user.email)
        if taken is not None and taken.id != user.id:
            raise EmailAlreadyRegistered
        self.users[user.id] = user


class FakePasswordHasher:
    """Reversible 'hashing' that records how often it was asked to work."""

    def __init__(self, version: int = 1) -> None:
        self.version = version
        self.hashes = 0
        self.verifications = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return f"fake:v{self.version}:{password[::-1]}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        _, _, reversed_password = password_hash.partition(":")[2].partition(":")
        return reversed_password == password[::-1]

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"fake:v{self.version}:")


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
