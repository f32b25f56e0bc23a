"""A UserRepository decorator that serves reads by id from an in-process LRU with a TTL."""

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from order_service.adapters.user_rows import roles_from_text, roles_to_text
from order_service.application.ports import UserRepository
from order_service.domain.users import User

# A cached user as atoms: email, name, password hash, roles as text, created, updated, and the
# monotonic instant it stops being fresh. None of these is a container, so CPython stops
# tracking the tuple at its first young collection and no collection ever walks it again;
# a User (and its UUID) per entry would be two objects every full collection walks, and with
# 10,000 users they made most of the heap the collector scanned (docs/performance.md, GC).
_Entry = tuple[str, str, str, str, datetime, datetime, float]


class InProcessCachedUserRepository:
    """UserRepository: `get_by_id` from memory when fresh, everything else from `inner`.

    Invalidation: a `save` through this object, or `forget` (another process announced a save,
    `adapters/redis/user_changes.py`), drops the entry at once, and a read that was in flight
    meanwhile does not fill the cache (it may carry the old row). Without announcements, a save
    made by another process (another worker or replica) is seen within `ttl_seconds`.

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
        # Keyed by the id's integer: hashing it is cheaper than hashing a UUID (a Python-level
        # __hash__), and an int, unlike a UUID, is not an object the collector tracks.
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._saves = 0  # bumped by every save: a read that saw it change must not fill

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        key = user_id.int
        entry = self._entries.get(key)
        if entry is not None:
            if self._monotonic() < entry[6]:
                self._entries.move_to_end(key)
                # A fresh User per hit (about a microsecond) buys a heap the collector skips.
                return User(
                    user_id,
                    entry[0],
                    entry[1],
                    entry[2],
                    roles_from_text(entry[3]),
                    entry[4],
                    entry[5],
                )
            del self._entries[key]
        saves_before = self._saves
        user = await self._inner.get_by_id(user_id)
        if user is not None and self._saves == saves_before:
            key = user.id.int
            self._entries.pop(key, None)
            self._entries[key] = (
                user.email,
                user.name,
                user.password_hash,
                roles_to_text(user.roles),
                user.created_at,
                user.updated_at,
                self._monotonic() + self._ttl,
            )
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
            self.forget(user.id)

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop one user, saved elsewhere; a read in flight meanwhile will not fill either."""
        self._saves += 1
        self._entries.pop(user_id.int, None)

    def forget_all(self) -> None:
        """Drop every user: saves made elsewhere may have gone unannounced."""
        self._saves += 1
        self._entries.clear()
