"""The one mapping between a `products` row and a Product, shared by the SQL adapters."""

from datetime import datetime
from typing import Any

from order_service.domain.products import Product

PRODUCT_COLUMNS = "sku, name, description, price_cents, currency, created_at, image_id"


def product_from_row(  # noqa: PLR0917 - the columns of a row, in order
    sku: str,
    name: str,
    description: str,
    price_cents: int,
    currency: str,
    created_at: datetime | str,
    image_id: str | None,
) -> Product:
    return Product(
        sku=sku,
        name=name,
        description=description,
        price_cents=price_cents,
        currency=currency,
        created_at=created_at
        if isinstance(created_at, datetime)
        else datetime.fromisoformat(created_at),
        image_id=image_id,
    )


def product_values(product: Product) -> tuple[Any, ...]:
    """The row's values in PRODUCT_COLUMNS order, with a native datetime."""
    return (
        product.sku,
        product.name,
        product.description,
        product.price_cents,
        product.currency,
        product.created_at,
        product.image_id,
    )
