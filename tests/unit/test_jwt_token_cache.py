"""Verified tokens are remembered until they expire, and only verified tokens are."""

import gc
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing, SigningKey
from order_service.application.ports import Principal
from order_service.domain.errors import Unauthenticated
from order_service.domain.users import Role
from tests.fakes.users import FakeClock

TTL = 900


def tokens_with(keys: KeyRing, clock: FakeClock, cache_size: int = 16) -> JwtTokens:
    return JwtTokens(
        keys=keys,
        issuer="order-service",
        audience="order-service",
        ttl_seconds=TTL,
        clock=clock,
        cache_size=cache_size,
    )


def now() -> FakeClock:
    """PyJWT checks exp against the real time, so the fake clock starts there."""
    return FakeClock(datetime.now(UTC))


def a_principal() -> Principal:
    return Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}))


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing([SigningKey.from_private_key(Ed25519PrivateKey.generate())])


def test_a_verified_token_is_not_verified_again_while_it_is_valid(keys: KeyRing) -> None:
    clock = now()
    tokens = tokens_with(keys, clock)
    principal = a_principal()
    token = tokens.issue(principal).access_token
    assert tokens.verify(token) == principal

    keys.by_kid.clear()  # a second full verification could no longer find the key

    assert tokens.verify(token) == principal


def test_a_remembered_token_still_expires_on_time(keys: KeyRing) -> None:
    clock = now()
    tokens = tokens_with(keys, clock)
    token = tokens.issue(a_principal()).access_token
    tokens.verify(token)

    clock.advance(TTL + 4)  # within the 5 s leeway the uncached check also allows
    tokens.verify(token)
    clock.advance(2)

    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def test_an_altered_token_is_checked_in_full_although_the_original_is_remembered(
    keys: KeyRing,
) -> None:
    tokens = tokens_with(keys, now())
    token = tokens.issue(a_principal()).access_token
    tokens.verify(token)
    header, claims, signature = token.split(".")
    forged_signature = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(Unauthenticated):
        tokens.verify(f"{header}.{claims}.{forged_signature}")


def test_the_cache_is_bounded_and_forgets_the_least_recently_used(keys: KeyRing) -> None:
    tokens = tokens_with(keys, now(), cache_size=2)
    first, second, third = (tokens.issue(a_principal()).access_token for _ in range(3))
    for token in (first, second, first, third):  # third evicts second
        tokens.verify(token)

    keys.by_kid.clear()

    tokens.verify(first)
    tokens.verify(third)
    with pytest.raises(Unauthenticated, match="unknown key"):
        tokens.verify(second)


def test_a_token_that_failed_is_not_remembered(keys: KeyRing) -> None:
    tokens = tokens_with(keys, now())
    token = tokens.issue(a_principal()).access_token
    known = dict(keys.by_kid)
    keys.by_kid.clear()
    with pytest.raises(Unauthenticated, match="unknown key"):
        tokens.verify(token)

    keys.by_kid.update(known)  # e.g. the key ring caught up with a rotation

    assert tokens.verify(token).roles == frozenset({Role.CUSTOMER})


def test_remembered_tokens_are_nothing_the_garbage_collector_must_walk(keys: KeyRing) -> None:
    # Full collections walk every tracked object; 16,384 cached principals used to add 32,768.
    tokens = tokens_with(keys, now(), cache_size=2_000)
    issued = [tokens.issue(a_principal()).access_token for _ in range(1_000)]
    gc.collect()
    tracked_before = len(gc.get_objects())

    for token in issued:
        tokens.verify(token)
    gc.collect()

    assert len(gc.get_objects()) - tracked_before < 100


def test_a_remembered_token_gives_back_the_same_subject_and_roles(keys: KeyRing) -> None:
    tokens = tokens_with(keys, now())
    admin = Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER, Role.ADMIN}))
    token = tokens.issue(admin).access_token
    tokens.verify(token)
    keys.by_kid.clear()  # so the next answer can only come from the cache

    remembered = tokens.verify(token)

    assert remembered == admin
    assert remembered.is_admin
