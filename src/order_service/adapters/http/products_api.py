"""HTTP routes of the product catalogue: admins add products, anyone reads them."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from order_service.adapters.http.app import Request, Response, Route, json_response
from order_service.application.products import Catalogue
from order_service.domain.products import Product


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Annotated[str, Meta(max_length=100, examples=["MUG-042"])]
    name: Annotated[str, Meta(max_length=1000, examples=["Enamel mug, blue"])]
    price_cents: Annotated[int, Meta(ge=0, description="the price in minor units (cents)")]
    description: Annotated[str, Meta(max_length=10_000)] = ""
    currency: Annotated[str, Meta(max_length=10, examples=["EUR"])] = "EUR"


class ProductOut(msgspec.Struct):
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    created_at: datetime

    @classmethod
    def of(cls, product: Product) -> "ProductOut":
        return cls(
            sku=product.sku,
            name=product.name,
            description=product.description,
            price_cents=product.price_cents,
            currency=product.currency,
            created_at=product.created_at,
        )


def product_routes(catalogue: Catalogue) -> list[Route]:
    async def add_product(request: Request) -> Response:
        body: ProductIn = request.payload
        product = await catalogue.add_product(
            request.authenticated,
            sku=body.sku,
            name=body.name,
            description=body.description,
            price_cents=body.price_cents,
            currency=body.currency,
        )
        location = f"/v1/products/{product.sku}".encode()
        return json_response(ProductOut.of(product), 201, [(b"location", location)])

    async def get_product(request: Request) -> Response:
        product = await catalogue.get_product(request.path_params["sku"])
        return json_response(ProductOut.of(product))

    return [
        Route(
            "POST",
            "/v1/products",
            add_product,
            "addProduct",
            "Add a product to the catalogue (admins only)",
            "products",
            body=ProductIn,
            responses={201: ProductOut},
            problems=(400, 401, 403, 409, 413, 415, 422, 503),
            authenticated=True,
        ),
        Route(
            "GET",
            "/v1/products/{sku}",
            get_product,
            "getProduct",
            "Read a product by SKU",
            "products",
            responses={200: ProductOut},
            problems=(404, 503),
        ),
    ]
