"""One suite for every SearchIndex/SearchIndexer and ProductRepository: fake, SQLite, PostgreSQL."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from order_service.domain.products import Product, ProductAlreadyExists, new_product
from order_service.domain.search import (
    IndexName,
    SearchDocument,
    order_document,
    parse_query,
    user_document,
)
from tests.conftest import PostgresSchema
from tests.contract.search_backends import (
    SearchBackend,
    memory_backend,
    migrated_sqlite,
    postgres_backend,
    sqlite_backend,
)

USERS, ORDERS, PRODUCTS = IndexName.USERS, IndexName.ORDERS, IndexName.PRODUCTS
ADA = uuid.UUID("00000000-0000-7000-8000-00000000000a")
GRACE = uuid.UUID("00000000-0000-7000-8000-00000000000b")
ORDER = uuid.UUID("00000000-0000-7000-8000-0000000000c1")


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | PostgresSchema | None:
    """Where the backend lives, migrated here because migrate() cannot run inside the loop."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path)
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    return schema


@pytest.fixture
async def backend(target: Path | PostgresSchema | None) -> AsyncIterator[SearchBackend]:
    if target is None:
        async with memory_backend() as store:
            yield store
    elif isinstance(target, Path):
        async with sqlite_backend(target) as store:
            yield store
    else:
        async with postgres_backend(target) as store:
            yield store


async def seed(backend: SearchBackend) -> None:
    documents = [
        user_document(user_id=ADA, email="ada@example.com", name="Ada Lovelace"),
        user_document(user_id=GRACE, email="grace@navy.example", name="Grace Hopper"),
        SearchDocument(PRODUCTS, "MUG-1", "Enamel mug", "MUG-1 A blue enamel mug, says Lovelace"),
        SearchDocument(PRODUCTS, "BOOK-7", "Lovelace notes", "BOOK-7 The notes on the engine"),
        SearchDocument(PRODUCTS, "PEN-2", "Pen", "PEN-2 A pen"),
        order_document(
            order_id=ORDER, customer_id=ADA, title="Order for Ada Lovelace", details="MUG-1 x 2"
        ),
    ]
    for document in documents:
        await backend.indexer.put(document)


async def ids(backend: SearchBackend, index: IndexName, text: str, limit: int = 10) -> list[str]:
    hits = await backend.index(index).search(parse_query(text), limit)
    assert all(hit.index is index for hit in hits)
    assert all(0 <= hit.score < 1 for hit in hits)
    return [hit.id for hit in hits]


async def test_a_title_match_ranks_above_a_body_match(backend: SearchBackend) -> None:
    await seed(backend)
    assert await ids(backend, PRODUCTS, "lovelace") == ["BOOK-7", "MUG-1"]


async def test_each_index_returns_only_its_own_documents(backend: SearchBackend) -> None:
    await seed(backend)
    assert await ids(backend, USERS, "lovelace") == [str(ADA)]
    assert await ids(backend, ORDERS, "lovelace") == [str(ORDER)]


async def test_every_term_must_match(backend: SearchBackend) -> None:
    await seed(backend)
    assert await ids(backend, USERS, "ada hopper") == []
    assert await ids(backend, USERS, "grace hopper") == [str(GRACE)]


async def test_terms_match_as_prefixes_and_ignore_case(backend: SearchBackend) -> None:
    await seed(backend)
    assert await ids(backend, USERS, "LOVEL") == [str(ADA)]


async def test_a_user_is_found_by_the_parts_of_the_email(backend: SearchBackend) -> None:
    await seed(backend)
    assert await ids(backend, USERS, "navy") == [str(GRACE)]


async def test_an_order_is_found_by_the_skus_it_contains(backend: SearchBackend) -> None:
    await seed(backend)
    assert await ids(backend, ORDERS, "mug") == [str(ORDER)]


async def test_limit_is_honoured(backend: SearchBackend) -> None:
    await seed(backend)
    assert len(await ids(backend, PRODUCTS, "lovelace", limit=1)) == 1


async def test_put_replaces_the_document_with_the_same_id(backend: SearchBackend) -> None:
    await seed(backend)
    await backend.indexer.put(SearchDocument(PRODUCTS, "PEN-2", "Fountain pen", "PEN-2 ink"))
    assert await ids(backend, PRODUCTS, "fountain") == ["PEN-2"]
    assert await ids(backend, PRODUCTS, "pen") == ["PEN-2"]


async def test_remove_takes_a_document_out_and_tolerates_unknown_ids(
    backend: SearchBackend,
) -> None:
    await seed(backend)
    await backend.indexer.remove(PRODUCTS, "BOOK-7")
    await backend.indexer.remove(PRODUCTS, "NO-SUCH")
    assert await ids(backend, PRODUCTS, "lovelace") == ["MUG-1"]


HOSTILE_QUERIES = [
    '"ada" OR 1=1; DROP TABLE search_documents; --',
    "' OR ''='",
    "title:ada* NEAR(ada lovelace) ^ada",
    "ada & !lovelace | grace <-> hopper:* ada:A",
    "%_ \\ \x00 ada",
    "Zürich 漢字 ada",
    "1e308 0x7f -1",
    "robert'); DELETE FROM products; --",
]


@pytest.mark.parametrize("text", HOSTILE_QUERIES)
async def test_hostile_queries_are_plain_text_searches(backend: SearchBackend, text: str) -> None:
    await seed(backend)
    for index in IndexName:
        await ids(backend, index, text)
    # Nothing was dropped or deleted along the way.
    assert await ids(backend, USERS, "ada") == [str(ADA)]


async def test_a_product_is_read_back_by_sku(backend: SearchBackend) -> None:
    product = new_product(
        sku="mug-1",
        name="Enamel mug",
        description="blue",
        price_cents=1250,
        currency="eur",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    await backend.products.add(product)
    assert await backend.products.get("MUG-1") == product
    assert await backend.products.get("MUG-2") is None


async def test_a_second_product_with_the_same_sku_is_a_conflict(backend: SearchBackend) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    product = new_product(
        sku="MUG-1", name="Mug", description="", price_cents=1, currency="EUR", now=now
    )
    await backend.products.add(product)
    with pytest.raises(ProductAlreadyExists):
        await backend.products.add(product)


PHOTO = "ab" * 32


def mug(image_id: str | None = None) -> Product:
    return new_product(
        sku="MUG-1",
        name="Mug",
        description="blue",
        price_cents=900,
        currency="EUR",
        now=datetime(2026, 1, 1, tzinfo=UTC),
        image_id=image_id,
    )


async def test_a_product_added_with_an_image_reads_it_back(backend: SearchBackend) -> None:
    product = mug(PHOTO)
    await backend.products.add(product)
    assert await backend.products.get("MUG-1") == product
    stored = await backend.products.get("MUG-1")
    assert stored is not None
    assert stored.image_id == PHOTO


async def test_an_image_is_linked_and_unlinked_later(backend: SearchBackend) -> None:
    product = mug()
    await backend.products.add(product)

    linked = await backend.products.set_image("MUG-1", PHOTO)

    assert linked == product.with_image(PHOTO)
    assert linked is not None
    assert linked.created_at == product.created_at
    assert await backend.products.get("MUG-1") == linked
    assert await backend.products.set_image("MUG-1", None) == product
    assert await backend.products.get("MUG-1") == product


async def test_linking_an_image_to_an_unknown_product_changes_nothing(
    backend: SearchBackend,
) -> None:
    assert await backend.products.set_image("MUG-404", PHOTO) is None
    assert await backend.products.get("MUG-404") is None


@pytest.mark.postgres
async def test_postgres_forgives_a_typo_in_a_name(postgres_schema: PostgresSchema) -> None:
    async with postgres_backend(postgres_schema) as backend:
        await seed(backend)
        assert await ids(backend, USERS, "lovelase") == [str(ADA)]
        assert await ids(backend, USERS, "ada hoper") == []
        assert await ids(backend, USERS, "grace hoper") == [str(GRACE)]
        exact = await backend.index(USERS).search(parse_query("lovelace"), 5)
        typo = await backend.index(USERS).search(parse_query("lovelase"), 5)
        assert exact[0].score > typo[0].score
