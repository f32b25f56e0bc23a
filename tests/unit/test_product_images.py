"""A product names its photo: the catalogue links only images that were uploaded."""

import uuid
from datetime import UTC, datetime

import pytest

from order_service.application.ports import Principal
from order_service.application.products import Catalogue
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.images import ImageFormat, ImageInfo
from order_service.domain.products import ProductNotFound
from order_service.domain.users import Role
from tests.fakes.images import InMemoryImageRepository
from tests.fakes.search import InMemoryProductRepository, InMemorySearchStore
from tests.fakes.users import FakeClock

ADMIN = Principal(subject=uuid.uuid4(), roles=frozenset({Role.ADMIN}))
CUSTOMER = Principal(subject=uuid.uuid4(), roles=frozenset({Role.CUSTOMER}))
PHOTO = ImageInfo(id="a1" * 32, format=ImageFormat.JPEG, width=640, height=480, bytes=1234)
NEVER_UPLOADED = "f0" * 32


def catalogue() -> tuple[Catalogue, InMemoryProductRepository, InMemoryImageRepository]:
    products = InMemoryProductRepository()
    images = InMemoryImageRepository(PHOTO)
    use_case = Catalogue(
        products=products,
        images=images,
        indexer=InMemorySearchStore(),
        clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
    )
    return use_case, products, images


async def add_mug(use_case: Catalogue, image_id: str | None = None) -> None:
    await use_case.add_product(
        ADMIN,
        sku="MUG-1",
        name="Mug",
        description="",
        price_cents=900,
        currency="EUR",
        image_id=image_id,
    )


async def test_a_product_is_added_with_an_uploaded_image() -> None:
    use_case, products, _ = catalogue()
    await add_mug(use_case, PHOTO.id)
    assert products.products["MUG-1"].image_id == PHOTO.id


async def test_a_product_without_an_image_has_none() -> None:
    use_case, products, images = catalogue()
    await add_mug(use_case)
    assert products.products["MUG-1"].image_id is None
    assert images.asked == []


@pytest.mark.parametrize("image_id", [NEVER_UPLOADED, "not-an-id", "../../etc/passwd", ""])
async def test_a_product_naming_an_unknown_image_is_refused_and_not_stored(image_id: str) -> None:
    use_case, products, _ = catalogue()
    with pytest.raises(InvalidInput) as error:
        await add_mug(use_case, image_id)
    assert error.value.field == "image_id"
    assert products.products == {}


async def test_a_malformed_image_id_never_reaches_the_image_store() -> None:
    use_case, _, images = catalogue()
    with pytest.raises(InvalidInput):
        await add_mug(use_case, "../" + PHOTO.id)
    assert images.asked == []


async def test_a_photo_uploaded_later_is_linked_then_unlinked() -> None:
    use_case, products, _ = catalogue()
    await add_mug(use_case)

    linked = await use_case.set_product_image(ADMIN, "mug-1", PHOTO.id)

    assert linked.image_id == PHOTO.id
    assert products.products["MUG-1"] == linked
    unlinked = await use_case.set_product_image(ADMIN, "MUG-1", None)
    assert unlinked.image_id is None
    assert products.products["MUG-1"].image_id is None


async def test_linking_an_unknown_image_leaves_the_product_as_it_was() -> None:
    use_case, products, _ = catalogue()
    await add_mug(use_case, PHOTO.id)
    with pytest.raises(InvalidInput) as error:
        await use_case.set_product_image(ADMIN, "MUG-1", NEVER_UPLOADED)
    assert error.value.field == "image_id"
    assert products.products["MUG-1"].image_id == PHOTO.id


@pytest.mark.parametrize("sku", ["MUG-404", "not a sku"])
async def test_linking_an_image_to_an_unknown_product_is_not_found(sku: str) -> None:
    use_case, products, _ = catalogue()
    with pytest.raises(ProductNotFound):
        await use_case.set_product_image(ADMIN, sku, PHOTO.id)
    assert products.products == {}


async def test_a_customer_may_not_link_images() -> None:
    use_case, products, images = catalogue()
    await add_mug(use_case)
    with pytest.raises(Forbidden):
        await use_case.set_product_image(CUSTOMER, "MUG-1", PHOTO.id)
    assert products.products["MUG-1"].image_id is None
    assert images.asked == []
