"""The fake hasher keeps the promises of the argon2 one that use cases rely on."""

import asyncio
from collections.abc import Iterator

import pytest

from order_service.adapters.crypto.argon2_hasher import Argon2PasswordHasher
from order_service.application.ports import PasswordHasher
from order_service.domain.errors import Unavailable
from tests.fakes.users import FakePasswordHasher


def cheap_argon2(concurrency: int = 2, queue: int = 8) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(
        time_cost=1, memory_kib=1024, parallelism=1, concurrency=concurrency, queue=queue
    )


@pytest.fixture(params=["fake", "argon2"])
def hasher(request: pytest.FixtureRequest) -> Iterator[PasswordHasher]:
    if request.param == "fake":
        yield FakePasswordHasher()
    else:
        real = cheap_argon2()
        yield real
        real.close()


async def test_a_hash_verifies_its_password_and_no_other(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery staple")
    assert "correct horse" not in hashed
    assert await hasher.verify(hashed, "correct horse battery staple")
    assert not await hasher.verify(hashed, "correct horse battery stapler")


async def test_garbage_hashes_do_not_verify(hasher: PasswordHasher) -> None:
    assert not await hasher.verify("not-a-hash", "anything at all here")


async def test_fresh_hashes_need_no_rehash(hasher: PasswordHasher) -> None:
    assert not hasher.needs_rehash(await hasher.hash("correct horse battery staple"))


async def test_argon2_uses_argon2id_and_asks_to_rehash_weaker_hashes() -> None:
    weak, strong = (
        cheap_argon2(),
        Argon2PasswordHasher(time_cost=2, memory_kib=2048, parallelism=1, concurrency=1, queue=1),
    )
    try:
        hashed = await weak.hash("correct horse battery staple")
        assert hashed.startswith("$argon2id$")
        assert strong.needs_rehash(hashed)
    finally:
        weak.close()
        strong.close()


async def test_argon2_sheds_load_beyond_its_queue_instead_of_growing_it() -> None:
    hasher = cheap_argon2(concurrency=1, queue=1)
    try:
        results = await asyncio.gather(
            *(hasher.hash(f"password number {n}") for n in range(6)), return_exceptions=True
        )
    finally:
        hasher.close()
    shed = [r for r in results if isinstance(r, Unavailable)]
    assert len(shed) == 4
    assert all(isinstance(r, str) for r in results if not isinstance(r, Unavailable))
