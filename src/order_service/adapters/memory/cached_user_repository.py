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
        # Users, and apart from them when each stops being fresh: plain floats in a dict are
        # invisible to the garbage collector, (user, float) tuples would be walked by every
        # full collection. Keyed by the user's own id object, not the caller's copy.
        self._entries: OrderedDict[uuid.UUID, User] = OrderedDict()
        self._fresh_until: dict[uuid.UUID, float] = {}
        self._saves = 0  # bumped by every save: a read that saw it change must not fill

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        cached = self._entries.get(user_id)
        if cached is not None:
            if self._monotonic() < self._fresh_until[user_id]:
                self._entries.move_to_end(user_id)
                return cached
            self._forget(user_id)
        saves_before = self._saves
        user = await self._inner.get_by_id(user_id)
        if user is not None and self._saves == saves_before:
            self._forget(user.id)
            self._entries[user.id] = user
            self._fresh_until[user.id] = self._monotonic() + self._ttl
            if len(self._entries) > self._max_entries:
                evicted, _ = self._entries.popitem(last=False)
                del self._fresh_until[evicted]
        return user

    async def get_by_email(self, email: str) -> User | None:
        return await self._inner.get_by_email(email)

    async def save(self, user: User) -> None:
        try:
            await self._inner.save(user)
        finally:
            # Also on failure: a save that timed out may still have committed.
            self._saves += 1
            self._forget(user.id)

    def _forget(self, user_id: uuid.UUID) -> None:
        if self._entries.pop(user_id, None) is not None:
            del self._fresh_until[user_id]
