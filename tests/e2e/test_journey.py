"""A newcomer's journey, as the README tells it, including a signing-key rotation."""

from pathlib import Path

import httpx
import jwt

from tests.service_process import run_cli, running_service, service_env

PASSWORD = "correct horse battery staple"


def test_register_token_me_get_by_id_then_rotate_the_key_without_logging_anyone_out(
    tmp_path: Path,
) -> None:
    with running_service(tmp_path) as service:
        with httpx.Client(base_url=service.base_url, timeout=10) as client:
            user = client.post(
                "/v1/users", json={"email": "ada@example.com", "name": "Ada", "password": PASSWORD}
            ).json()
            old_token = client.post(
                "/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
            ).json()["access_token"]
            auth = {"authorization": f"Bearer {old_token}"}
            assert client.get("/v1/users/me", headers=auth).json() == user
            assert client.get(f"/v1/users/{user['id']}", headers=auth).json() == user
        assert service.stop() == 0

    new_kid = run_cli("rotate-key", env=service_env(tmp_path)).strip()

    with running_service(tmp_path, migrate=False) as service:
        url = service.base_url
        kids = [k["kid"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]]
        still_valid = httpx.get(
            f"{url}/v1/users/me", headers={"authorization": f"Bearer {old_token}"}
        )
        new_token = httpx.post(
            f"{url}/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
        ).json()["access_token"]

    assert len(kids) == 2
    assert kids[-1] == new_kid
    assert still_valid.status_code == 200
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert jwt.get_unverified_header(old_token)["kid"] == kids[0]
