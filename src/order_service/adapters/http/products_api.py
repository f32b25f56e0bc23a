"""HTTP routes of the product catalogue: admins add products and link photos, anyone reads them."""

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from order_service.adapters.http.app import Request, Response, Route, json_response
from order_service.adapters.http.images_api import default_thumbnail_url, original_url
from order_service.application.products import Catalogue
from order_service.domain.products import Product

# Longer than any image id (64 hex digits), so a wrong one reaches the catalogue and is named.
ImageId = Annotated[str, Meta(max_length=200, description="the id of an uploaded image")]


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Annotated[str, Meta(max_length=100, examples=["MUG-042"])]
    name: Annotated[str, Meta(max_length=1000, examples=["Enamel mug, blue"])]
    price_cents: Annotated[int, Meta(ge=0, description="the price in minor units (cents)")]
    description: Annotated[str, Meta(max_length=10_000)] = ""
    currency: Annotated[str, Meta(max_length=10, examples=["EUR"])] = "EUR"
    image_id: ImageId | None = None


class ProductImageIn(msgspec.Struct, forbid_unknown_fields=True):
    # Required but nullable: `{"image_id": null}` unlinks, an empty body is a mistake.
    image_id: ImageId | None


class ProductLinks(msgspec.Struct):
    self: str
    image: str | None = None
    thumbnail: str | None = None


class ProductOut(msgspec.Struct):
    sku: str
    name: str
    description: str
    price_cents: int
    currency: str
    created_at: datetime
    image_id: str | None
    links: ProductLinks

    @classmethod
    def of(cls, product: Product) -> "ProductOut":
        links = ProductLinks(self=f"/v1/products/{product.sku}")
        if product.image_id is not None:
            links.image = original_url(product.image_id)
            links.thumbnail = default_thumbnail_url(product.image_id)
        return cls(
            sku=product.sku,
            name=product.name,
            description=product.description,
            price_cents=product.price_cents,
            currency=product.currency,
            created_at=product.created_at,
            image_id=product.image_id,
            links=links,
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
            image_id=body.image_id,
        )
        location = f"/v1/products/{product.sku}".encode()
        return json_response(ProductOut.of(product), 201, [(b"location", location)])

    async def get_product(request: Request) -> Response:
        product = await catalogue.get_product(request.path_params["sku"])
        return json_response(ProductOut.of(product))

    async def set_product_image(request: Request) -> Response:
        body: ProductImageIn = request.payload
        product = await catalogue.set_product_image(
            request.authenticated, request.path_params["sku"], body.image_id
        )
        return json_response(ProductOut.of(product))

    return [
        Route(
            "POST",
            "/v1/products",
            add_product,
            "addProduct",
            "Add a product to the catalogue (admins only); `image_id` names an uploaded image",
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
            "Read a product by SKU, with links to its image and default thumbnail",
            "products",
            responses={200: ProductOut},
            problems=(404, 503),
        ),
        Route(
            "PUT",
            "/v1/products/{sku}/image",
            set_product_image,
            "setProductImage",
            "Link a product to an uploaded image, or unlink it with null (admins only)",
            "products",
            body=ProductImageIn,
            responses={200: ProductOut},
            problems=(400, 401, 403, 404, 413, 415, 422, 503),
            authenticated=True,
        ),
    ]
