"""The order API over HTTP, against the real service process (embedded default)."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.service_process import RunningService, run_cli, running_service, service_env

PASSWORD = "a long enough passphrase"
BODY = {"items": [{"sku": "sku-1", "quantity": 2}], "region": "eu-west"}


@dataclass
class Api:
    service: RunningService
    client: httpx.Client
    ada: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]

    def place(self, auth: dict[str, str], key: str, body: object = BODY) -> httpx.Response:
        return self.client.post("/v1/orders", json=body, headers={**auth, "idempotency-key": key})


def _log_in(client: httpx.Client, email: str, *, register: bool = True) -> dict[str, str]:
    if register:
        created = client.post(
            "/v1/users", json={"email": email, "name": "Someone", "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
    issued = client.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    var_dir: Path = tmp_path_factory.mktemp("orders-http")
    with running_service(var_dir) as service, httpx.Client(base_url=service.base_url) as client:
        run_cli(
            "create-admin",
            "--email",
            "root@example.com",
            "--password-stdin",
            env=service_env(var_dir),
            stdin=PASSWORD + "\n",
        )
        yield Api(
            service,
            client,
            _log_in(client, "ada@example.com"),
            _log_in(client, "bob@example.com"),
            _log_in(client, "root@example.com", register=False),
        )


def test_placing_an_order_needs_a_token(api: Api) -> None:
    response = api.client.post("/v1/orders", json=BODY, headers={"idempotency-key": "x"})
    assert response.status_code == 401


def test_placing_an_order_needs_an_idempotency_key(api: Api) -> None:
    response = api.client.post("/v1/orders", json=BODY, headers=api.ada)
    assert response.status_code == 400
    assert response.json()["type"].endswith(":missing-idempotency-key")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"items": [], "region": "eu"}, "$.items"),
        ({"items": [{"sku": "a", "quantity": 0}], "region": "eu"}, "$.items[0].quantity"),
        ({"items": [{"sku": "a b", "quantity": 1}], "region": "eu"}, "$.items[0].sku"),
        ({"items": [{"sku": "a", "quantity": 1}]}, "$"),
    ],
)
def test_a_bad_order_is_a_422_naming_the_field(api: Api, body: object, pointer: str) -> None:
    response = api.place(api.ada, str(uuid.uuid4()), body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == pointer


def test_the_same_key_and_body_answer_the_original_order(api: Api) -> None:
    key = str(uuid.uuid4())
    first = api.place(api.ada, key)
    again = api.place(api.ada, key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


def test_the_same_key_with_another_body_is_a_422(api: Api) -> None:
    key = str(uuid.uuid4())
    assert api.place(api.ada, key).status_code == 202
    other = api.place(api.ada, key, {"items": [{"sku": "sku-2", "quantity": 1}], "region": "eu"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["pointer"] == "$.Idempotency-Key"


def test_concurrent_requests_with_one_key_create_one_order(api: Api) -> None:
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: api.place(api.ada, key), range(16)))
    statuses = {r.status_code for r in responses}
    assert statuses <= {202, 409}, [r.text for r in responses]
    winners = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(winners) == 1
    mine = api.client.get("/v1/orders?limit=100", headers=api.ada).json()["items"]
    assert sum(1 for o in mine if o["id"] in winners) == 1


def test_only_the_owner_or_an_admin_reads_an_order(api: Api) -> None:
    order = api.place(api.ada, str(uuid.uuid4())).json()
    assert api.client.get(f"/v1/orders/{order['id']}", headers=api.ada).status_code == 200
    assert api.client.get(f"/v1/orders/{order['id']}", headers=api.admin).status_code == 200
    assert api.client.get(f"/v1/orders/{order['id']}", headers=api.bob).status_code == 404
    assert api.client.get("/v1/orders/not-a-uuid", headers=api.ada).status_code == 400


def test_listing_pages_through_a_customers_own_orders(api: Api) -> None:
    carol = _log_in(api.client, "carol@example.com")
    placed = {api.place(carol, str(uuid.uuid4())).json()["id"] for _ in range(3)}
    seen: list[str] = []
    cursor = ""
    while True:
        page = api.client.get(f"/v1/orders?limit=2&cursor={cursor}", headers=carol).json()
        seen += [o["id"] for o in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(placed)
    assert seen == sorted(seen, reverse=True)
    everyone = api.client.get("/v1/orders?limit=100", headers=api.admin).json()["items"]
    assert placed <= {o["id"] for o in everyone}


@pytest.mark.parametrize("query", ["status=lost", "limit=0", "limit=abc", "cursor=nope"])
def test_bad_list_parameters_are_4xx(api: Api, query: str) -> None:
    response = api.client.get(f"/v1/orders?{query}", headers=api.ada)
    assert response.status_code in {400, 422}, response.text


def test_only_an_admin_retries_and_only_a_failed_order(api: Api) -> None:
    order = api.place(api.ada, str(uuid.uuid4())).json()
    url = f"/v1/orders/{order['id']}/retry"
    assert api.client.post(url, headers=api.ada).status_code == 403
    assert api.client.post(url, headers=api.admin).status_code == 409


def test_the_openapi_document_describes_the_order_routes(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    operations = {
        paths[path][method]["operationId"]
        for path, method in [
            ("/v1/orders", "post"),
            ("/v1/orders", "get"),
            ("/v1/orders/{id}", "get"),
            ("/v1/orders/{id}/retry", "post"),
        ]
    }
    assert operations == {"placeOrder", "listOrders", "getOrder", "retryOrder"}
    listed = {p["name"] for p in paths["/v1/orders"]["get"]["parameters"]}
    assert listed == {"status", "limit", "cursor"}
    assert "202" in paths["/v1/orders"]["post"]["responses"]
    (key,) = paths["/v1/orders"]["post"]["parameters"]
    assert key["name"] == "Idempotency-Key"
    assert (key["in"], key["required"]) == ("header", True)
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 200}
