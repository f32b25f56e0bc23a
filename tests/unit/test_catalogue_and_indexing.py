"""Writers keep the search indices current: registered users and added products are indexed."""

import uuid
from datetime import UTC, datetime

import pytest

from order_service.adapters.memory.failure_throttle import InProcessFailureThrottle
from order_service.application.accounts import Accounts
from order_service.application.ports import IssuedToken, Principal
from order_service.application.products import Catalogue
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.products import ProductNotFound
from order_service.domain.search import IndexName, SearchDocument
from order_service.domain.users import Role
from tests.fakes.images import InMemoryImageRepository
from tests.fakes.search import InMemoryProductRepository, InMemorySearchStore
from tests.fakes.users import FakeClock, FakePasswordHasher, InMemoryUserRepository

ADMIN = Principal(subject=uuid.uuid4(), roles=frozenset({Role.ADMIN}))
CUSTOMER = Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}))
PASSWORD = "engine notes 1843"


class BrokenIndexer:
    async def put(self, document: SearchDocument) -> None:  # noqa: ARG002 - the port's signature
        raise ConnectionError("index down")

    async def remove(self, index: IndexName, document_id: str) -> None:  # noqa: ARG002 - as above
        raise ConnectionError("index down")


Indexer = InMemorySearchStore | BrokenIndexer


class NoTokens:
    def issue(self, principal: Principal) -> IssuedToken:
        raise AssertionError(f"these tests never log in, yet a token was asked for {principal}")


def accounts_with(
    indexer: InMemorySearchStore | BrokenIndexer,
) -> tuple[Accounts, InMemoryUserRepository]:
    users = InMemoryUserRepository()
    accounts = Accounts(
        users=users,
        hasher=FakePasswordHasher(),
        tokens=NoTokens(),
        throttle=InProcessFailureThrottle(window_seconds=60),
        clock=FakeClock(),
        max_failures_per_email=5,
        max_failures_per_client=50,
        indexer=indexer,
    )
    return accounts, users


def catalogue_with(indexer: Indexer) -> tuple[Catalogue, InMemoryProductRepository]:
    products = InMemoryProductRepository()
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    catalogue = Catalogue(
        products=products, images=InMemoryImageRepository(), indexer=indexer, clock=clock
    )
    return catalogue, products


async def test_a_registered_user_is_indexed_by_name_and_email() -> None:
    store = InMemorySearchStore()
    accounts, _ = accounts_with(store)

    user = await accounts.register(
        email="Ada@Example.com", name="Ada", password="engine notes 1843"
    )

    document = store.documents[IndexName.USERS, str(user.id)]
    assert document.title == "Ada"
    assert "ada@example.com" in document.body
    assert document.owner == user.id


async def test_a_user_is_registered_even_when_the_index_is_down() -> None:
    accounts, users = accounts_with(BrokenIndexer())

    user = await accounts.register(
        email="ada@example.com", name="Ada", password="engine notes 1843"
    )

    assert users.users[user.id] == user


async def test_an_admin_adds_a_product_that_is_indexed() -> None:
    store = InMemorySearchStore()
    catalogue, products = catalogue_with(store)

    product = await catalogue.add_product(
        ADMIN, sku=" mug-1 ", name="Mug", description="blue", price_cents=900, currency="eur"
    )

    assert product.sku == "MUG-1"
    assert product.currency == "EUR"
    assert products.products["MUG-1"] == product
    assert store.documents[IndexName.PRODUCTS, "MUG-1"].title == "Mug"


async def test_a_product_is_added_even_when_the_index_is_down() -> None:
    catalogue, products = catalogue_with(BrokenIndexer())
    await catalogue.add_product(
        ADMIN, sku="MUG-1", name="Mug", description="", price_cents=1, currency="EUR"
    )
    assert "MUG-1" in products.products


async def test_a_customer_may_not_add_products() -> None:
    store = InMemorySearchStore()
    catalogue, products = catalogue_with(store)
    with pytest.raises(Forbidden):
        await catalogue.add_product(
            CUSTOMER, sku="MUG-1", name="Mug", description="", price_cents=1, currency="EUR"
        )
    assert products.products == {}
    assert store.documents == {}


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("sku", {"sku": "MUG 1"}),
        ("sku", {"sku": "-MUG"}),
        ("sku", {"sku": "M" * 65}),
        ("name", {"name": "   "}),
        ("description", {"description": "x" * 4001}),
        ("price_cents", {"price_cents": -1}),
        ("currency", {"currency": "EURO"}),
    ],
)
async def test_bad_product_fields_are_named(field: str, overrides: dict[str, object]) -> None:
    catalogue, _ = catalogue_with(InMemorySearchStore())
    values: dict[str, object] = {
        "sku": "MUG-1",
        "name": "Mug",
        "description": "",
        "price_cents": 1,
        "currency": "EUR",
    }
    values.update(overrides)
    with pytest.raises(InvalidInput) as error:
        await catalogue.add_product(ADMIN, **values)  # type: ignore[arg-type]
    assert error.value.field == field


async def test_a_product_is_read_by_sku_in_any_case() -> None:
    catalogue, _ = catalogue_with(InMemorySearchStore())
    added = await catalogue.add_product(
        ADMIN, sku="MUG-1", name="Mug", description="", price_cents=1, currency="EUR"
    )
    assert await catalogue.get_product("mug-1") == added
    with pytest.raises(ProductNotFound):
        await catalogue.get_product("MUG-2")
    with pytest.raises(ProductNotFound):
        await catalogue.get_product("not a sku")
