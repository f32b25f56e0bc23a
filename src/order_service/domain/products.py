"""The product catalogue: SKUs, names, descriptions and prices."""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from order_service.domain.errors import Conflict, InvalidInput, NotFound
from order_service.domain.search import IndexName, SearchDocument

MAX_SKU_LENGTH = 64
MAX_PRODUCT_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 4000
# A billion in minor units: far above any real price, far below any integer overflow.
MAX_PRICE_CENTS = 100_000_000_000

_SKU = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ProductNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("product not found")


class ProductAlreadyExists(Conflict):
    def __init__(self) -> None:
        super().__init__("a product with this SKU already exists")


def normalise_sku(raw: str) -> str:
    """Upper-case, trimmed; letters, digits, '.', '_' and '-', starting with a letter or digit."""
    sku = raw.strip().upper()
    if not sku or len(sku) > MAX_SKU_LENGTH or not _SKU.match(sku):
        raise InvalidInput(
            "sku",
            f"sku must be 1-{MAX_SKU_LENGTH} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return sku


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    created_at: datetime = field(compare=False)
    image_id: str | None = None

    def with_image(self, image_id: str | None) -> "Product":
        return replace(self, image_id=image_id)

    def search_document(self) -> SearchDocument:
        return SearchDocument(
            index=IndexName.PRODUCTS,
            id=self.sku,
            title=self.name,
            body=f"{self.sku} {self.description}",
        )


def new_product(
    *,
    sku: str,
    name: str,
    description: str,
    price_cents: int,
    currency: str,
    now: datetime,
    image_id: str | None = None,
) -> Product:
    """A product whose fields obey the catalogue's rules, or InvalidInput naming the field."""
    clean_name = name.strip()
    if not clean_name or len(clean_name) > MAX_PRODUCT_NAME_LENGTH:
        raise InvalidInput("name", f"name must be 1-{MAX_PRODUCT_NAME_LENGTH} characters")
    clean_description = description.strip()
    if len(clean_description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            "description", f"description must be at most {MAX_DESCRIPTION_LENGTH} characters"
        )
    if not 0 <= price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput("price_cents", f"price_cents must be between 0 and {MAX_PRICE_CENTS}")
    code = currency.strip().upper()
    if not _CURRENCY.match(code):
        raise InvalidInput("currency", "currency must be an ISO 4217 code such as EUR")
    return Product(
        sku=normalise_sku(sku),
        name=clean_name,
        description=clean_description,
        price_cents=price_cents,
        currency=code,
        created_at=now,
        image_id=image_id,
    )
