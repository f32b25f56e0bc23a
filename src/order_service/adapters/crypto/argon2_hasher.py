"""argon2id password hashing on a small bounded thread pool, off the event loop."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2

from order_service.domain.errors import Unavailable

_R = TypeVar("_R")


class Argon2PasswordHasher:
    """PasswordHasher for argon2id.

    argon2-cffi releases the GIL while hashing, so threads run hashes in parallel without
    stalling the loop. Each hash takes `memory_kib` of RAM, so at most `concurrency` run at once
    and at most `queue` wait; beyond that callers get Unavailable (503) instead of a growing
    backlog.
    """

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, concurrency: int, queue: int
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._admitted = 0
        self._capacity = concurrency + queue

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    async def _run(self, function: Callable[..., _R], *args: str) -> _R:
        if self._admitted >= self._capacity:
            raise Unavailable("password hashing is at capacity", retry_after=1.0)
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._admitted -= 1
