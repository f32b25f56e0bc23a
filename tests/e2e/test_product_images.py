"""A product names its photo, over real HTTP against the real service process."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import image_samples as samples
from tests.e2e.images_client import log_in
from tests.e2e.test_search_service import admin_headers
from tests.service_process import running_service, service_env

PROBLEM = "application/problem+json"
NEVER_UPLOADED = "f0" * 32


@dataclass
class Shop:
    client: httpx.Client
    admin: dict[str, str]
    customer: dict[str, str]
    photo_id: str

    def add(self, sku: str, **extra: object) -> httpx.Response:
        product = {"sku": sku, "name": "Enamel mug", "price_cents": 900, **extra}
        return self.client.post("/v1/products", json=product, headers=self.admin)

    def link(self, sku: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.client.put(
            f"/v1/products/{sku}/image", json=body, headers=headers or self.admin
        )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    var_dir: Path = tmp_path_factory.mktemp("product-images")
    with (
        running_service(var_dir) as service,
        httpx.Client(base_url=service.base_url, timeout=30.0) as client,
    ):
        admin = admin_headers(client, service_env(var_dir))
        customer = {"authorization": f"Bearer {log_in(client)}"}
        upload = client.post(
            "/v1/images",
            content=samples.photo_jpeg(320, 240, seed=9),
            headers={**customer, "content-type": "image/jpeg"},
        )
        assert upload.status_code == 201, upload.text
        yield Shop(client, admin, customer, upload.json()["id"])


def assert_problem(answer: httpx.Response, status: int) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert "Traceback" not in answer.text
    body: dict[str, object] = answer.json()
    return body


def assert_names_image_id(answer: httpx.Response) -> None:
    body = assert_problem(answer, 422)
    assert body["type"] == "urn:order-service:problem:invalid-field"
    assert body["errors"] == [{"pointer": "$.image_id", "detail": body["detail"]}]


def test_a_product_added_with_its_photo_links_the_original_and_a_thumbnail(shop: Shop) -> None:
    assert shop.add("MUG-1", image_id=shop.photo_id).status_code == 201

    body = shop.client.get("/v1/products/mug-1").json()

    assert body["image_id"] == shop.photo_id
    links = body["links"]
    assert links["image"] == f"/v1/images/{shop.photo_id}"
    assert links["thumbnail"].startswith(f"/v1/images/{shop.photo_id}/thumbnail?w=256&h=256")
    # The links are live: the original and the thumbnail are served.
    assert shop.client.get(links["image"]).status_code == 200
    thumbnail = shop.client.get(links["thumbnail"], headers={"accept": "image/jpeg"})
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"


def test_a_product_without_a_photo_has_no_image_links(shop: Shop) -> None:
    assert shop.add("MUG-2").status_code == 201
    body = shop.client.get("/v1/products/MUG-2").json()
    assert body["image_id"] is None
    assert body["links"] == {"self": "/v1/products/MUG-2", "image": None, "thumbnail": None}


@pytest.mark.parametrize("image_id", [NEVER_UPLOADED, "../../etc/passwd", "A" * 64])
def test_a_product_naming_an_unknown_image_is_422_and_not_added(shop: Shop, image_id: str) -> None:
    assert_names_image_id(shop.add("MUG-BAD", image_id=image_id))
    assert_problem(shop.client.get("/v1/products/MUG-BAD"), 404)


def test_a_photo_uploaded_after_the_product_is_linked_then_unlinked(shop: Shop) -> None:
    assert shop.add("MUG-3").status_code == 201

    linked = shop.link("mug-3", {"image_id": shop.photo_id})

    assert linked.status_code == 200, linked.text
    assert linked.json()["image_id"] == shop.photo_id
    assert shop.client.get("/v1/products/MUG-3").json()["image_id"] == shop.photo_id
    unlinked = shop.link("MUG-3", {"image_id": None})
    assert unlinked.status_code == 200
    assert shop.client.get("/v1/products/MUG-3").json()["links"]["image"] is None


def test_linking_is_refused_clearly(shop: Shop) -> None:
    assert shop.add("MUG-4").status_code == 201
    photo = {"image_id": shop.photo_id}

    assert_problem(shop.link("MUG-404", photo), 404)
    assert_names_image_id(shop.link("MUG-4", {"image_id": NEVER_UPLOADED}))
    assert_problem(shop.link("MUG-4", photo, headers=shop.customer), 403)
    assert_problem(shop.client.put("/v1/products/MUG-4/image", json=photo), 401)
    # A missing field is a mistake (null is how to unlink), and so is a wrong type.
    assert "required field `image_id`" in str(assert_problem(shop.link("MUG-4", {}), 422))
    assert "$.image_id" in str(assert_problem(shop.link("MUG-4", {"image_id": 42}), 422))
    assert_problem(shop.link("MUG-4", "not an object"), 422)
    # None of the refusals changed the product.
    assert shop.client.get("/v1/products/MUG-4").json()["image_id"] is None


def test_the_openapi_document_declares_the_image_link(shop: Shop) -> None:
    paths = shop.client.get("/openapi.json").json()["paths"]
    operation = paths["/v1/products/{sku}/image"]["put"]
    assert operation["operationId"] == "setProductImage"
    assert {"200", "403", "404", "422"} <= set(operation["responses"])
