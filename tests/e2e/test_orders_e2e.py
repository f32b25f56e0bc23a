"""The embedded default end to end: an order placed over HTTP reaches `confirmed` through the
built-in provider simulator, with no configuration at all."""

import time
from pathlib import Path

import httpx

from tests.service_process import running_service


def _token(client: httpx.Client, email: str) -> dict[str, str]:
    password = "a long enough passphrase"
    created = client.post("/v1/users", json={"email": email, "name": "Ada", "password": password})
    assert created.status_code == 201, created.text
    issued = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert issued.status_code == 200, issued.text
    return {"authorization": f"Bearer {issued.json()['access_token']}"}


def _wait_for_status(client: httpx.Client, url: str, auth: dict[str, str], status: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 15
    while True:
        order = client.get(url, headers=auth).json()
        if order["status"] == status or time.monotonic() > deadline:
            return order  # type: ignore[no-any-return]
        # Polling the service's observable state; dispatch is asynchronous by design.
        time.sleep(0.05)


def test_an_order_placed_on_the_embedded_default_is_confirmed(tmp_path: Path) -> None:
    with running_service(tmp_path) as service, httpx.Client(base_url=service.base_url) as client:
        auth = _token(client, "ada@example.com")
        body = {"items": [{"sku": "sku-1", "quantity": 2}], "region": "eu-west"}
        placed = client.post("/v1/orders", json=body, headers={**auth, "idempotency-key": "k1"})
        assert placed.status_code == 202, placed.text
        assert placed.json()["status"] == "accepted"
        location = placed.headers["location"]

        order = _wait_for_status(client, location, auth, "confirmed")
        assert order["status"] == "confirmed", order
        assert order["provider_id"] == "simulator"
        assert order["provider_ref"].startswith("simulator-")
        assert order["attempts"] == 1

        again = client.post("/v1/orders", json=body, headers={**auth, "idempotency-key": "k1"})
        assert again.status_code == 202
        assert again.json()["id"] == placed.json()["id"]
        listed = client.get("/v1/orders", headers=auth).json()
        assert [o["id"] for o in listed["items"]] == [placed.json()["id"]]
