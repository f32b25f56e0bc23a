"""The product catalogue's use cases: admins add products, anyone reads them."""

from typing import Protocol

from order_service.application.ports import Clock, Principal
from order_service.application.search import SearchIndexer, index_quietly
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.products import Product, ProductNotFound, new_product, normalise_sku


class ProductRepository(Protocol):
    """Products by SKU.

    `add` inserts and raises ProductAlreadyExists when the SKU is taken, even when two adds race.
    """

    async def get(self, sku: str) -> Product | None: ...

    async def add(self, product: Product) -> None: ...


class Catalogue:
    def __init__(
        self, *, products: ProductRepository, indexer: SearchIndexer | None, clock: Clock
    ) -> None:
        self._products = products
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
    ) -> Product:
        """Forbidden unless admin; InvalidInput for a bad field; ProductAlreadyExists on a dup."""
        if not principal.is_admin:
            raise Forbidden("only admins may add products")
        product = new_product(
            sku=sku,
            name=name,
            description=description,
            price_cents=price_cents,
            currency=currency,
            now=self._clock(),
        )
        await self._products.add(product)
        await index_quietly(self._indexer, product.search_document())
        return product

    async def get_product(self, sku: str) -> Product:
        """The product with this SKU (any case); ProductNotFound, also for a malformed SKU."""
        try:
            normalised = normalise_sku(sku)
        except InvalidInput:
            raise ProductNotFound from None
        product = await self._products.get(normalised)
        if product is None:
            raise ProductNotFound
        return product
