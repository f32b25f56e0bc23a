"""A UserRepository decorator that shares reads by id across processes and replicas in Redis."""

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import cast

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_service.adapters.user_rows import roles_from_text
from order_service.application.ports import UserRepository
from order_service.domain.users import User

_log = logging.getLogger(__name__)


class _CachedUser(msgspec.Struct, array_like=True, gc=False):
    """The wire form in Redis: compact, versioned by its key prefix.

    gc=False: it holds atoms and a list of str, so it can never be part of a cycle; untracked,
    decoding one does not count toward the collector's next young collection.
    """

    id: uuid.UUID
    email: str
    name: str
    password_hash: str
    roles: list[str]
    created_at: datetime
    updated_at: datetime


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_CachedUser).decode


def _to_wire(user: User) -> bytes:
    return _encode(
        _CachedUser(
            user.id,
            user.email,
            user.name,
            user.password_hash,
            sorted(user.roles),
            user.created_at,
            user.updated_at,
        )
    )


def _from_wire(raw: bytes) -> User:
    cached = _decode(raw)
    return User(
        id=cached.id,
        email=cached.email,
        name=cached.name,
        password_hash=cached.password_hash,
        roles=roles_from_text(",".join(cached.roles)),
        created_at=cached.created_at,
        updated_at=cached.updated_at,
    )


class RedisCachedUserRepository:
    """UserRepository: cache-aside in Redis for `get_by_id`, write-through on `save`.

    - A miss reads `inner` and fills with SET NX, so a fill can never overwrite what a save
      wrote meanwhile; a save writes the new user with SET (after `inner` committed it), so
      every process sees it on its next read. Two saves of one user racing from two processes
      may leave the older in Redis until `ttl_seconds`.
    - Redis is an accelerator, not a dependency of reads: a Redis fault reads `inner` instead
      (and a save whose cache write fails deletes the key, or leaves it to expire). After a
      fault, reads skip Redis for `cooldown_seconds`, so an outage costs one timeout, not one
      per request; saves still try, so no replica keeps serving what they replaced.
    - The cached user includes its argon2 hash, as the store does: protect Redis like the
      database.
    """

    def __init__(
        self,
        inner: UserRepository,
        redis: Redis,
        *,
        ttl_seconds: float,
        prefix: str = "order-service:user:v1:",
        cooldown_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        announce: Callable[[uuid.UUID], Awaitable[None]] | None = None,
    ) -> None:
        """`announce` tells other processes a user was saved (`user_changes.py`), once the
        store has it and this layer's entry was rewritten or dropped."""
        self._inner = inner
        self._redis = redis
        self._announce = announce
        self._ttl_ms = int(ttl_seconds * 1000)
        self._prefix = prefix
        self._cooldown = cooldown_seconds
        self._monotonic = monotonic
        self._skip_until = 0.0

    def _failed(self, what: str, error: RedisError) -> None:
        self._skip_until = self._monotonic() + self._cooldown
        _log.warning(
            "user cache %s failed; reading the store for %gs",
            what,
            self._cooldown,
            extra={"error": str(error)},
        )

    async def get_by_id(self, user_id: uuid.UUID) -> User | None:
        if self._monotonic() < self._skip_until:
            return await self._inner.get_by_id(user_id)
        key = self._prefix + str(user_id)
        try:
            # The client is made without decode_responses, so replies are bytes.
            raw = cast("bytes | None", await self._redis.get(key))
        except RedisError as error:
            self._failed("read", error)
            return await self._inner.get_by_id(user_id)
        if raw is not None:
            try:
                return _from_wire(raw)
            except (msgspec.DecodeError, ValueError):
                _log.warning("user cache entry unreadable; reading the store", extra={"key": key})
        user = await self._inner.get_by_id(user_id)
        if user is not None:
            try:
                await self._redis.set(key, _to_wire(user), px=self._ttl_ms, nx=True)
            except RedisError as error:
                self._failed("fill", error)
        return user

    async def get_by_email(self, email: str) -> User | None:
        return await self._inner.get_by_email(email)

    async def save(self, user: User) -> None:
        key = self._prefix + str(user.id)
        try:
            await self._inner.save(user)
        except BaseException:
            # It may have committed (a timeout after the write): never leave the old entry.
            await self._forget(key)
            await self._announce_saved(user.id)
            raise
        try:
            await self._redis.set(key, _to_wire(user), px=self._ttl_ms)
        except RedisError as error:
            _log.warning("user cache write failed; dropping the entry", extra={"error": str(error)})
            await self._forget(key)
        await self._announce_saved(user.id)

    async def _announce_saved(self, user_id: uuid.UUID) -> None:
        if self._announce is not None:
            await self._announce(user_id)

    async def _forget(self, key: str) -> None:
        try:
            await self._redis.delete(key)
        except RedisError as error:
            _log.warning(
                "user cache entry could not be dropped; it expires on its own",
                extra={"error": str(error), "key": key},
            )
