import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from order_service.adapters.crypto.jwt_tokens import JwtTokens, KeyRing, SigningKey
from order_service.adapters.memory.failure_throttle import InProcessFailureThrottle
from order_service.application.accounts import Accounts
from order_service.application.ports import Principal
from order_service.domain.errors import Forbidden, InvalidInput, Throttled, Unauthenticated
from order_service.domain.users import EmailAlreadyRegistered, Role, UserNotFound
from tests.fakes.users import FakeClock, FakeMonotonic, FakePasswordHasher, InMemoryUserRepository

PASSWORD = "correct horse battery staple"


class World:
    def __init__(self) -> None:
        self.users = InMemoryUserRepository()
        self.hasher = FakePasswordHasher()
        self.clock = FakeClock()
        self.monotonic = FakeMonotonic()
        self.throttle = InProcessFailureThrottle(window_seconds=60, monotonic=self.monotonic)
        self.tokens = JwtTokens(
            keys=KeyRing([SigningKey.from_private_key(Ed25519PrivateKey.generate())]),
            issuer="test",
            audience="test",
            ttl_seconds=300,
            clock=self.clock,
        )
        self.accounts = Accounts(
            users=self.users,
            hasher=self.hasher,
            tokens=self.tokens,
            throttle=self.throttle,
            clock=self.clock,
            max_failures_per_email=3,
            max_failures_per_client=5,
        )


@pytest.fixture
def world() -> World:
    return World()


async def test_registering_stores_a_customer_with_a_hashed_password(world: World) -> None:
    user = await world.accounts.register(email="Ada@Example.com", name=" Ada ", password=PASSWORD)

    stored = world.users.users[user.id]
    assert stored.email == "ada@example.com"
    assert stored.name == "Ada"
    assert stored.roles == {Role.CUSTOMER}
    assert PASSWORD not in stored.password_hash
    assert stored.created_at == world.clock.now


async def test_registering_a_taken_email_in_any_case_is_a_conflict(world: World) -> None:
    await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)
    hashes_before = world.hasher.hashes

    with pytest.raises(EmailAlreadyRegistered):
        await world.accounts.register(email="ADA@example.com", name="Ada", password=PASSWORD)
    assert world.hasher.hashes == hashes_before  # no argon2 work spent on a duplicate


async def test_registering_with_a_weak_password_stores_nothing(world: World) -> None:
    with pytest.raises(InvalidInput):
        await world.accounts.register(email="ada@example.com", name="Ada", password="short")
    assert world.users.users == {}


async def test_logging_in_returns_a_token_for_the_user_and_its_roles(world: World) -> None:
    user = await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)

    issued = await world.accounts.log_in(email="ADA@example.com", password=PASSWORD, client="c")

    principal = world.tokens.verify(issued.access_token)
    assert principal == Principal(subject=user.id, roles=frozenset({Role.CUSTOMER}))
    assert issued.expires_in == 300


async def test_unknown_emails_cost_the_same_password_check_as_wrong_passwords(
    world: World,
) -> None:
    await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)

    before = world.hasher.verifications
    with pytest.raises(Unauthenticated) as wrong_password:
        await world.accounts.log_in(email="ada@example.com", password="nope", client="c")
    after_known = world.hasher.verifications
    with pytest.raises(Unauthenticated) as unknown_email:
        await world.accounts.log_in(email="bob@example.com", password="nope", client="c")

    assert after_known - before == 1
    assert world.hasher.verifications - after_known == 1
    assert str(wrong_password.value) == str(unknown_email.value)


async def test_repeated_failures_for_one_email_are_throttled_until_the_window_ends(
    world: World,
) -> None:
    await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await world.accounts.log_in(email="ada@example.com", password="nope", client="c1")

    verifications = world.hasher.verifications
    with pytest.raises(Throttled) as throttled:
        await world.accounts.log_in(email="ada@example.com", password=PASSWORD, client="c2")
    assert 0 < throttled.value.retry_after <= 60
    assert world.hasher.verifications == verifications  # throttled before any hashing

    world.monotonic.advance(61)
    assert await world.accounts.log_in(email="ada@example.com", password=PASSWORD, client="c2")


async def test_one_client_guessing_many_emails_is_throttled(world: World) -> None:
    for n in range(5):
        with pytest.raises(Unauthenticated):
            await world.accounts.log_in(email=f"u{n}@example.com", password="x", client="bot")
    with pytest.raises(Throttled):
        await world.accounts.log_in(email="fresh@example.com", password="x", client="bot")


async def test_a_successful_log_in_clears_the_email_failures(world: World) -> None:
    await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await world.accounts.log_in(email="ada@example.com", password="nope", client="c")
    await world.accounts.log_in(email="ada@example.com", password=PASSWORD, client="c")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await world.accounts.log_in(email="ada@example.com", password="nope", client="c")
    assert await world.accounts.log_in(email="ada@example.com", password=PASSWORD, client="c")


async def test_a_hash_made_with_old_parameters_is_upgraded_at_log_in(world: World) -> None:
    user = await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)
    world.hasher.version = 2

    await world.accounts.log_in(email="ada@example.com", password=PASSWORD, client="c")

    assert world.users.users[user.id].password_hash.startswith("fake:v2:")


async def test_a_customer_reads_itself_but_not_others_whether_or_not_they_exist(
    world: World,
) -> None:
    ada = await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)
    bob = await world.accounts.register(email="bob@example.com", name="Bob", password=PASSWORD)
    as_ada = Principal(subject=ada.id, roles=frozenset({Role.CUSTOMER}))

    assert await world.accounts.get_user(as_ada, ada.id) == ada
    with pytest.raises(Forbidden):
        await world.accounts.get_user(as_ada, bob.id)
    with pytest.raises(Forbidden):
        await world.accounts.get_user(as_ada, uuid.uuid4())


async def test_an_admin_reads_anyone_and_learns_when_nobody_is_there(world: World) -> None:
    bob = await world.accounts.register(email="bob@example.com", name="Bob", password=PASSWORD)
    admin = Principal(subject=uuid.uuid4(), roles=frozenset({Role.ADMIN}))

    assert await world.accounts.get_user(admin, bob.id) == bob
    with pytest.raises(UserNotFound):
        await world.accounts.get_user(admin, uuid.uuid4())


async def test_create_admin_promotes_an_existing_user_keeping_its_password(world: World) -> None:
    ada = await world.accounts.register(email="ada@example.com", name="Ada", password=PASSWORD)

    promoted = await world.accounts.create_admin(
        email="ada@example.com", name="ignored", password="another long passphrase"
    )

    assert promoted.id == ada.id
    assert promoted.roles == {Role.ADMIN, Role.CUSTOMER}
    assert world.users.users[ada.id].password_hash == ada.password_hash
