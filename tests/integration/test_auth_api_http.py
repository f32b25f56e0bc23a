"""The Auth API over real HTTP against the real server process (embedded SQLite store)."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.service_process import RunningService, run_cli, running_service, service_env

PASSWORD = "correct horse battery staple"
ADMIN_PASSWORD = "admin passphrase for tests"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    var_dir = tmp_path_factory.mktemp("auth-http")
    env = {
        "ORDER_SERVICE_LOGIN_MAX_FAILURES_PER_EMAIL": "3",
        "ORDER_SERVICE_MAX_BODY_BYTES": "4096",
    }
    run_cli("migrate", env=service_env(var_dir, env))
    run_cli(
        "create-admin",
        "--email",
        "root@example.com",
        "--password-stdin",
        env=service_env(var_dir, env),
        stdin=ADMIN_PASSWORD + "\n",
    )
    with running_service(var_dir, env=env, migrate=False) as running:
        yield running


@pytest.fixture
def client(service: RunningService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=10) as http:
        yield http


def register(client: httpx.Client, email: str | None = None) -> dict[str, Any]:
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    response = client.post("/v1/users", json={"email": email, "name": "Ada", "password": PASSWORD})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_for(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    response = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    value: str = response.json()["access_token"]
    return value


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == f"urn:order-service:problem:{slug}"
    assert body["title"]
    assert "Traceback" not in response.text
    return body


# --- the journey -----------------------------------------------------------------------------


def test_register_then_token_then_me_then_get_by_id(client: httpx.Client) -> None:
    created = register(client, "Journey.Person@Example.com")
    assert created["email"] == "journey.person@example.com"
    assert created["roles"] == ["customer"]

    token = token_for(client, "journey.person@example.com")
    auth = {"authorization": f"Bearer {token}"}
    me = client.get("/v1/users/me", headers=auth)
    by_id = client.get(f"/v1/users/{created['id']}", headers=auth)

    assert me.status_code == 200
    assert me.json() == created
    assert by_id.json() == created


def test_an_admin_reads_any_user_and_a_customer_only_itself(client: httpx.Client) -> None:
    ada, bob = register(client), register(client)
    as_ada = {"authorization": f"Bearer {token_for(client, ada['email'])}"}
    as_root = {"authorization": f"Bearer {token_for(client, 'root@example.com', ADMIN_PASSWORD)}"}

    assert client.get(f"/v1/users/{bob['id']}", headers=as_root).json() == bob
    assert_problem(client.get(f"/v1/users/{bob['id']}", headers=as_ada), 403, "forbidden")
    assert_problem(client.get(f"/v1/users/{uuid.uuid4()}", headers=as_root), 404, "not-found")


def test_the_token_is_an_eddsa_jwt_verifiable_with_the_published_jwks(
    client: httpx.Client,
) -> None:
    ada = register(client)
    token = token_for(client, ada["email"])
    jwks = client.get("/.well-known/jwks.json")

    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.json()["keys"] if k["kid"] == kid)
    claims = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience="order-service",
        issuer="order-service",
    )
    assert claims["sub"] == ada["id"]
    assert jwks.headers["cache-control"].startswith("public")


# --- bad input, endpoint by endpoint ---------------------------------------------------------

VALID = {"email": "x@example.com", "name": "X", "password": PASSWORD}


@pytest.mark.parametrize(
    ("content", "status", "slug"),
    [
        (b'{"email": "a@example.com", "name": ', 400, "malformed-json"),
        (b"[1, 2, 3]", 422, "validation"),
        (b'{"email": "a@example.com", "name": "A"}', 422, "validation"),
        (
            b'{"email": "a@example.com", "name": "A", "password": "p", "admin": true}',
            422,
            "validation",
        ),
        (b'{"email": 42, "name": "A", "password": "correct horse battery"}', 422, "validation"),
        (
            b'{"email": "not-an-email", "name": "A", "password": "correct horse battery"}',
            422,
            "invalid-field",
        ),
        (
            b'{"email": "weak@example.com", "name": "A", "password": "password"}',
            422,
            "invalid-field",
        ),
        (
            b'{"email": "blank@example.com", "name": "  ", "password": "correct horse battery"}',
            422,
            "invalid-field",
        ),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "missing-field",
        "extra-field",
        "wrong-type",
        "invalid-email",
        "weak-password",
        "blank-name",
    ],
)
def test_registration_rejects_bad_bodies(
    client: httpx.Client, content: bytes, status: int, slug: str
) -> None:
    response = client.post(
        "/v1/users", content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, status, slug)
    if status == 422:
        assert body["errors"][0]["pointer"].startswith("$")


def test_a_validation_problem_names_the_field(client: httpx.Client) -> None:
    response = client.post("/v1/users", json={**VALID, "email": 42})
    assert assert_problem(response, 422, "validation")["errors"][0]["pointer"] == "$.email"
    weak = client.post("/v1/users", json={**VALID, "password": "short"})
    assert assert_problem(weak, 422, "invalid-field")["errors"][0]["pointer"] == "$.password"


def test_a_duplicate_email_in_another_case_is_409(client: httpx.Client) -> None:
    register(client, "dup@example.com")
    response = client.post("/v1/users", json={**VALID, "email": "DUP@example.com"})
    assert_problem(response, 409, "conflict")


def test_an_oversize_body_is_413_whether_declared_or_streamed(client: httpx.Client) -> None:
    big = b'{"email": "' + b"a" * 5000 + b'"}'
    declared = client.post("/v1/users", content=big, headers={"content-type": "application/json"})
    assert_problem(declared, 413, "body-too-large")

    def chunks() -> Iterator[bytes]:
        yield big[:3000]
        yield big[3000:]

    streamed = client.post(
        "/v1/users", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(streamed, 413, "body-too-large")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post("/v1/auth/token", content=b"email=a&password=b", headers=headers)
    assert_problem(response, 415, "unsupported-media-type")


def test_token_rejects_bad_bodies(client: httpx.Client) -> None:
    assert_problem(
        client.post("/v1/auth/token", json={"email": "a@example.com"}), 422, "validation"
    )
    assert_problem(
        client.post("/v1/auth/token", json={"email": "a@b.co", "password": 1}), 422, "validation"
    )


def test_wrong_password_and_unknown_email_are_the_same_401(client: httpx.Client) -> None:
    ada = register(client)
    wrong = client.post("/v1/auth/token", json={"email": ada["email"], "password": "nope nope"})
    unknown = client.post(
        "/v1/auth/token", json={"email": "ghost@example.com", "password": "nope nope"}
    )
    assert (
        assert_problem(wrong, 401, "unauthenticated")["detail"]
        == (assert_problem(unknown, 401, "unauthenticated")["detail"])
    )


def test_repeated_failures_are_throttled_with_retry_after(client: httpx.Client) -> None:
    ada = register(client)
    for _ in range(3):
        bad = client.post("/v1/auth/token", json={"email": ada["email"], "password": "guess!"})
        assert bad.status_code == 401
    throttled = client.post("/v1/auth/token", json={"email": ada["email"], "password": PASSWORD})
    assert_problem(throttled, 429, "throttled")
    assert int(throttled.headers["retry-after"]) > 0


def _forged(kid: str, alg: str = "EdDSA") -> str:
    import base64  # noqa: PLC0415

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    header = part(b'{"alg":"' + alg.encode() + b'","kid":"' + kid.encode() + b'"}')
    return f"{header}.{part(b'{}')}.{part(b'sig')}"


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "required"),
        ("Basic YWRhOnB3", "Bearer"),
        ("Bearer", "Bearer"),
        ("Bearer not.a.token", "malformed"),
        ("Bearer " + _forged("x", alg="none").rsplit(".", 1)[0] + ".", "'none'"),
        ("Bearer " + _forged("x", alg="HS256"), "'HS256'"),
        ("Bearer " + _forged("unknown-kid"), "unknown key"),
    ],
    ids=[
        "missing",
        "basic-scheme",
        "empty-bearer",
        "malformed",
        "alg-none",
        "alg-hs256",
        "unknown-kid",
    ],
)
def test_bad_tokens_are_401_problems(
    client: httpx.Client, authorization: str | None, detail: str
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = client.get("/v1/users/me", headers=headers)
    body = assert_problem(response, 401, "unauthenticated")
    assert detail in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_tampered_token_is_401(client: httpx.Client) -> None:
    token = token_for(client, register(client)["email"])
    header, claims, signature = token.split(".")
    tampered = f"{header}.{claims}.{signature[::-1]}"
    response = client.get("/v1/users/me", headers={"authorization": f"Bearer {tampered}"})
    assert_problem(response, 401, "unauthenticated")


def test_a_user_id_that_is_not_a_uuid_is_400(client: httpx.Client) -> None:
    token = token_for(client, register(client)["email"])
    response = client.get("/v1/users/42", headers={"authorization": f"Bearer {token}"})
    assert_problem(response, 400, "bad-id")


def test_unknown_routes_and_methods_are_problems(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404, "no-such-route")
    not_allowed = client.delete("/v1/users")
    assert_problem(not_allowed, 405, "method-not-allowed")
    assert not_allowed.headers["allow"] == "POST"


@pytest.mark.parametrize(("value", "status"), [("soon", 400), ("0", 504), ("-1", 504)])
def test_a_bad_or_spent_request_timeout_is_refused(
    client: httpx.Client, value: str, status: int
) -> None:
    response = client.get("/live", headers={"x-request-timeout": value})
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM


# --- probes and the OpenAPI document ---------------------------------------------------------


def test_probes_answer(client: httpx.Client) -> None:
    assert client.get("/live").json() == {"status": "alive"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["database"]["status"] == "ok"


def test_the_openapi_document_is_valid_and_lists_every_route(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    validate(spec)
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert {
        ("/v1/users", "post"),
        ("/v1/auth/token", "post"),
        ("/v1/users/me", "get"),
        ("/v1/users/{id}", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/live", "get"),
        ("/ready", "get"),
        ("/openapi.json", "get"),
    } <= operations


def test_responses_match_the_openapi_schemas(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()

    def check(path: str, method: str, response: httpx.Response) -> None:
        declared = spec["paths"][path][method]["responses"][str(response.status_code)]
        media_type = response.headers["content-type"]
        schema = declared["content"][media_type]["schema"]
        validator = Draft202012Validator({**schema, "components": spec["components"]})
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert errors == [], (path, response.status_code, errors)

    user = register(client)
    token = token_for(client, user["email"])
    auth = {"authorization": f"Bearer {token}"}
    check("/v1/users", "post", client.post("/v1/users", json={**VALID, "email": user["email"]}))
    check(
        "/v1/auth/token",
        "post",
        client.post("/v1/auth/token", json={"email": user["email"], "password": PASSWORD}),
    )
    check("/v1/users/me", "get", client.get("/v1/users/me", headers=auth))
    check("/v1/users/{id}", "get", client.get(f"/v1/users/{user['id']}", headers=auth))
    check("/v1/users/{id}", "get", client.get(f"/v1/users/{uuid.uuid4()}", headers=auth))
    check("/v1/users/me", "get", client.get("/v1/users/me"))
    check("/.well-known/jwks.json", "get", client.get("/.well-known/jwks.json"))
    check("/ready", "get", client.get("/ready"))
    check("/live", "get", client.get("/live"))


def test_the_service_logs_json_lines_and_never_a_password(service: RunningService) -> None:
    import json  # noqa: PLC0415

    lines = [line for line in service.logs().splitlines() if line.strip()]
    assert lines
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert PASSWORD not in service.logs()
    assert ADMIN_PASSWORD not in service.logs()


def test_keys_live_under_the_var_dir(service: RunningService) -> None:
    keys = list(Path(service.log_path.parent, "keys").glob("*.pem"))
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"exp": 1_000_000_000}, "expired"),
        ({"iss": "https://evil.example.com"}, "issuer"),
        ({"aud": "another-service"}, "audience"),
    ],
    ids=["expired", "wrong-issuer", "wrong-audience"],
)
def test_tokens_signed_by_our_own_key_with_bad_claims_are_401(
    service: RunningService, client: httpx.Client, claims: dict[str, Any], detail: str
) -> None:
    from order_service.adapters.crypto.jwt_tokens import KeyRing  # noqa: PLC0415

    ring = KeyRing.from_directory(service.log_path.parent / "keys", create_if_empty=False)
    valid = {
        "iss": "order-service",
        "aud": "order-service",
        "sub": str(uuid.uuid4()),
        "roles": ["admin"],
        "iat": 1_000_000_000,
        "exp": 4_000_000_000,
    }
    token = jwt.encode(
        {**valid, **claims},
        ring.signing.private_key,
        algorithm="EdDSA",
        headers={"kid": ring.signing.kid},
    )
    response = client.get("/v1/users/me", headers={"authorization": f"Bearer {token}"})
    assert detail in assert_problem(response, 401, "unauthenticated")["detail"]
