"""A running service with an authenticated client, shared by the image end-to-end tests."""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.service_process import RunningService, running_service


@dataclass
class ImageService:
    service: RunningService
    client: httpx.Client
    token: str

    def upload(self, data: bytes, content_type: str = "image/jpeg") -> httpx.Response:
        return self.client.post(
            "/v1/images",
            content=data,
            headers={"authorization": f"Bearer {self.token}", "content-type": content_type},
        )


def log_in(client: httpx.Client) -> str:
    email = f"shop-{uuid.uuid4().hex[:8]}@example.com"
    password = "a long enough passphrase"
    client.post(
        "/v1/users", json={"email": email, "name": "Shop", "password": password}
    ).raise_for_status()
    answer = client.post("/v1/auth/token", json={"email": email, "password": password})
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


@contextmanager
def image_service(var_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[ImageService]:
    with (
        running_service(var_dir, env=env) as service,
        httpx.Client(base_url=service.base_url, timeout=30.0) as client,
    ):
        yield ImageService(service, client, log_in(client))
