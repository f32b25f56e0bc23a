"""ProductRepository on SQLite."""

import sqlite3

import aiosqlite

from order_service.adapters.product_rows import PRODUCT_COLUMNS, product_from_row, product_values
from order_service.adapters.sqlite.database import sqlite_values
from order_service.domain.products import Product, ProductAlreadyExists

_GET = f"SELECT {PRODUCT_COLUMNS} FROM products WHERE sku = ?"  # noqa: S608 - constant columns
_SET_IMAGE = f"UPDATE products SET image_id = ? WHERE sku = ? RETURNING {PRODUCT_COLUMNS}"  # noqa: S608
_ADD = f"INSERT INTO products ({PRODUCT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608


class SqliteProductRepository:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def get(self, sku: str) -> Product | None:
        async with self._db.execute(_GET, (sku,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else product_from_row(*row)

    async def add(self, product: Product) -> None:
        try:
            await self._db.execute(_ADD, sqlite_values(product_values(product)))
        except sqlite3.IntegrityError as error:
            if "products.sku" in str(error):
                raise ProductAlreadyExists from None
            raise

    async def set_image(self, sku: str, image_id: str | None) -> Product | None:
        async with self._db.execute(_SET_IMAGE, (image_id, sku)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else product_from_row(*row)
