"""ProductRepository on PostgreSQL."""

import asyncpg

from order_service.adapters.product_rows import PRODUCT_COLUMNS, product_from_row, product_values
from order_service.application.deadline import remaining
from order_service.domain.products import Product, ProductAlreadyExists

_GET = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = $1"  # noqa: S608 - constant columns
_SET_IMAGE = f"UPDATE products SET image_id = $2 WHERE sku = $1 RETURNING {PRODUCT_COLUMNS}"  # noqa: S608
_ADD = f"INSERT INTO products ({PRODUCT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"  # noqa: S608


class PostgresProductRepository:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def get(self, sku: str) -> Product | None:
        row = await self._pool.fetchrow(_GET, sku, timeout=remaining(self._timeout))
        return None if row is None else product_from_row(*row)

    async def add(self, product: Product) -> None:
        try:
            await self._pool.execute(
                _ADD, *product_values(product), timeout=remaining(self._timeout)
            )
        except asyncpg.UniqueViolationError:
            raise ProductAlreadyExists from None

    async def set_image(self, sku: str, image_id: str | None) -> Product | None:
        row = await self._pool.fetchrow(_SET_IMAGE, sku, image_id, timeout=remaining(self._timeout))
        return None if row is None else product_from_row(*row)
