"""The product catalogue's use cases: admins add products and link photos, anyone reads them."""

from typing import Protocol

from order_service.application.ports import Clock, Principal
from order_service.application.search import SearchIndexer, index_quietly
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.images import ImageInfo, is_image_id
from order_service.domain.products import Product, ProductNotFound, new_product, normalise_sku


class ProductRepository(Protocol):
    """Products by SKU.

    `add` inserts and raises ProductAlreadyExists when the SKU is taken, even when two adds race.
    """

    async def get(self, sku: str) -> Product | None: ...

    async def add(self, product: Product) -> None: ...

    async def set_image(self, sku: str, image_id: str | None) -> Product | None:
        """Link the product to an image (None unlinks); the updated product, None if no product."""
        ...


class ProductImages(Protocol):
    """The uploaded images a product may name; the images' ImageRepository satisfies it.

    `get` is only ever called with a well-formed image id (`is_image_id`).
    """

    async def get(self, image_id: str) -> ImageInfo | None: ...


class Catalogue:
    def __init__(
        self,
        *,
        products: ProductRepository,
        images: ProductImages,
        indexer: SearchIndexer | None,
        clock: Clock,
    ) -> None:
        self._products = products
        self._images = images
        self._indexer = indexer
        self._clock = clock

    async def add_product(
        self,
        principal: Principal,
        *,
        sku: str,
        name: str,
        description: str,
        price_cents: int,
        currency: str,
        image_id: str | None = None,
    ) -> Product:
        """Forbidden unless admin; InvalidInput for a bad field or an unknown image;
        ProductAlreadyExists on a dup."""
        _require_admin(principal, "add products")
        product = new_product(
            sku=sku,
            name=name,
            description=description,
            price_cents=price_cents,
            currency=currency,
            now=self._clock(),
            image_id=image_id,
        )
        await self._require_image(image_id)
        await self._products.add(product)
        await index_quietly(self._indexer, product.search_document())
        return product

    async def set_product_image(
        self, principal: Principal, sku: str, image_id: str | None
    ) -> Product:
        """Link a product to an uploaded image, or unlink it with None.

        Forbidden unless admin; ProductNotFound for an unknown SKU; InvalidInput naming
        `image_id` for an image that was never uploaded.
        """
        _require_admin(principal, "link product images")
        normalised = _known_sku_or_not_found(sku)
        await self._require_image(image_id)
        product = await self._products.set_image(normalised, image_id)
        if product is None:
            raise ProductNotFound
        return product

    async def get_product(self, sku: str) -> Product:
        """The product with this SKU (any case); ProductNotFound, also for a malformed SKU."""
        product = await self._products.get(_known_sku_or_not_found(sku))
        if product is None:
            raise ProductNotFound
        return product

    async def _require_image(self, image_id: str | None) -> None:
        # The format check comes first so a malformed id never reaches the image store's keys.
        if image_id is None:
            return
        if not is_image_id(image_id) or await self._images.get(image_id) is None:
            raise InvalidInput("image_id", f"no uploaded image {image_id[:80]!r}")


def _require_admin(principal: Principal, action: str) -> None:
    if not principal.is_admin:
        raise Forbidden(f"only admins may {action}")


def _known_sku_or_not_found(sku: str) -> str:
    try:
        return normalise_sku(sku)
    except InvalidInput:
        raise ProductNotFound from None
