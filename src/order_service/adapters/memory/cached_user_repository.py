"""A UserRepository decorator that serves reads by id from an in-process LRU with a TTL."""

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from order_service.application.ports import UserRepository
from order_service.domain.users import User


class InProcessCachedUserRepository:
    """UserRepository: `get_by_id` from memory when fresh, everything else from `inner`.

    Invalidation: a `save` through this object drops the entry at once, and a read that was in
    flight while any save happened does not fill the cache (it may carry the old row). A save
    made by another process (another worker or replica) is seen within `ttl_seconds`; put a
    shared layer (Redis) under this one and keep the TTL short for that case.

    Only reads by id are cached: reads by email serve log-in and registration, which must see
    the store's truth (and cost an argon2 hash anyway). Unknown ids are not cached.
    """

    def __init__(
        self,
        inner: UserRepository,
        *,
        max_entries: int,
        ttl_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[uuid.UUID, tuple[User, float]] = OrderedDict()
        self._saves = 0  # bumped by every save: a read that saw it change must not fill

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        entry = self._entries.get(user_id)
        if entry is not None:
            cached, fresh_until = entry
            if self._monotonic() < fresh_until:
                self._entries.move_to_end(user_id)
                return cached
            del self._entries[user_id]
        saves_before = self._saves
        user = await self._inner.get_by_id(user_id)
        if user is not None and self._saves == saves_before:
            self._entries[user_id] = (user, self._monotonic() + self._ttl)
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return user

    async def get_by_email(self, email: str) -> User | None:
        return await self._inner.get_by_email(email)

    async def save(self, user: User) -> None:
        try:
            await self._inner.save(user)
        finally:
            # Also on failure: a save that timed out may still have committed.
            self._saves += 1
            self._entries.pop(user.id, None)
