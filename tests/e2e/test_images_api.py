"""The image API over real HTTP against the real service process: the contract a client sees."""

import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from tests import image_samples as samples
from tests.e2e.images_client import ImageService, image_service

PROBLEM = "application/problem+json"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageService]:
    env = {
        "ORDER_SERVICE_IMAGES_MAX_UPLOAD_BYTES": str(2 * 1024 * 1024),
        "ORDER_SERVICE_IMAGES_MAX_PIXELS": "20000000",
    }
    with image_service(tmp_path_factory.mktemp("images-api"), env) as running:
        yield running


@pytest.fixture(scope="module")
def photo_id(api: ImageService) -> str:
    answer = api.upload(samples.photo_jpeg(1200, 900, seed=7))
    assert answer.status_code in (200, 201)
    image_id: str = answer.json()["id"]
    return image_id


def assert_problem(answer: httpx.Response, status: int, slug: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["status"] == status
    assert body["type"].endswith(slug), body
    assert "Traceback" not in answer.text


def test_an_upload_answers_201_with_the_image_and_its_links(api: ImageService) -> None:
    data = samples.photo_jpeg(640, 480, seed=1)
    answer = api.upload(data)
    assert answer.status_code == 201
    body = answer.json()
    assert body["width"] == 640
    assert body["height"] == 480
    assert body["format"] == "jpeg"
    assert body["bytes"] == len(data)
    assert answer.headers["location"] == f"/v1/images/{body['id']}"
    assert body["links"]["thumbnail"].startswith(f"/v1/images/{body['id']}/thumbnail")
    again = api.upload(data)
    assert again.status_code == 200
    assert again.json() == body


def test_the_original_is_served_byte_for_byte_with_a_strong_etag(api: ImageService) -> None:
    data = samples.photo_jpeg(320, 240, seed=2)
    image_id = api.upload(data).json()["id"]
    answer = api.client.get(f"/v1/images/{image_id}")
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == IMMUTABLE
    etag = answer.headers["etag"]
    assert not etag.startswith("W/")
    again = api.client.get(f"/v1/images/{image_id}", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_a_thumbnail_is_negotiated_cached_and_revalidated(api: ImageService, photo_id: str) -> None:
    url = f"/v1/images/{photo_id}/thumbnail?w=200&h=200&fit=cover"
    webp = api.client.get(url, headers={"accept": "image/webp,image/*,*/*;q=0.8"})
    assert webp.status_code == 200
    assert webp.headers["content-type"] == "image/webp"
    assert webp.headers["vary"] == "Accept"
    assert webp.headers["cache-control"] == IMMUTABLE
    assert Image.open(io.BytesIO(webp.content)).size == (200, 200)
    jpeg = api.client.get(url, headers={"accept": "*/*"})
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.headers["etag"] != webp.headers["etag"]
    revalidated = api.client.get(
        url, headers={"accept": "image/webp", "if-none-match": webp.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == webp.headers["etag"]
    repeat = api.client.get(url, headers={"accept": "image/webp"})
    assert repeat.content == webp.content


def test_a_repeated_request_is_answered_alike_from_the_cached_path(
    api: ImageService, photo_id: str
) -> None:
    url = f"/v1/images/{photo_id}/thumbnail?h=150&w=150"
    accept = {"accept": "image/avif,image/webp,*/*"}
    first, second = (api.client.get(url, headers=accept) for _ in range(2))
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    for header in ("content-type", "etag", "vary", "cache-control", "x-content-type-options"):
        assert second.headers[header] == first.headers[header], header
    revalidated = api.client.get(url, headers={**accept, "if-none-match": first.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == first.headers["etag"]
    # The same query with another Accept is its own request: negotiated, not the cached answer.
    plain = api.client.get(url, headers={"accept": "*/*"})
    assert plain.headers["content-type"] == "image/jpeg"
    assert plain.headers["etag"] != first.headers["etag"]


def test_an_explicit_format_wins_and_does_not_vary(api: ImageService, photo_id: str) -> None:
    answer = api.client.get(
        f"/v1/images/{photo_id}/thumbnail?w=100&format=png", headers={"accept": "image/webp"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert "vary" not in answer.headers
    assert Image.open(io.BytesIO(answer.content)).size == (100, 75)


def test_concurrent_requests_for_a_new_variant_get_the_same_bytes(
    api: ImageService, photo_id: str
) -> None:
    url = f"/v1/images/{photo_id}/thumbnail?w=177&h=133&format=jpeg"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api.client.get(url), range(8)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.content for answer in answers}) == 1
    assert len({answer.headers["etag"] for answer in answers}) == 1


@pytest.mark.parametrize(
    ("data", "content_type", "status", "slug"),
    [
        (b"", "image/jpeg", 415, "unsupported-image"),
        (os.urandom(2048), "image/jpeg", 415, "unsupported-image"),
        (os.urandom(2048), "application/octet-stream", 415, "unsupported-image"),
        (samples.photo_jpeg(200, 150), "text/plain", 415, "unsupported-image"),
        (samples.photo_jpeg(200, 150, seed=3), "image/png", 415, "unsupported-image"),
        (b"%PDF-1.4\n" + samples.photo_jpeg(32, 32), "image/jpeg", 415, "unsupported-image"),
        (samples.photo_jpeg(400, 300, seed=4)[:3000], "image/jpeg", 422, "corrupt-image"),
        (samples.jpeg_declaring(60_000, 60_000), "image/jpeg", 422, "too-many-pixels"),
        (samples.png_declaring(30_000, 30_000), "image/png", 422, "too-many-pixels"),
        (b"\xff\xd8\xff" + b"\x00" * (3 * 1024 * 1024), "image/jpeg", 413, "too-large"),
    ],
    ids=[
        "empty",
        "random",
        "random-octets",
        "wrong-content-type",
        "mislabelled",
        "polyglot",
        "truncated",
        "small-file-huge-dimensions",
        "huge-png",
        "too-big",
    ],
)
def test_hostile_uploads_get_a_clear_problem(
    api: ImageService, data: bytes, content_type: str, status: int, slug: str
) -> None:
    assert_problem(api.upload(data, content_type), status, slug)


def test_a_multipart_upload_of_one_file_is_the_same_image_as_the_raw_body(
    api: ImageService,
) -> None:
    data = samples.photo_jpeg(320, 240, seed=11)
    raw = api.upload(data)
    form = api.client.post(
        "/v1/images",
        files={"image": ("photo.jpg", data, "image/jpeg")},
        data={"caption": "a field beside the file is ignored"},
        headers={"authorization": f"Bearer {api.token}"},
    )
    assert form.status_code == 200, form.text  # the same bytes: stored once, already there
    assert form.json() == raw.json()


def part(name: str, content_type: str, data: bytes, filename: str | None = "f") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--b0undary\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}"
    return head.encode() + b"\r\n\r\n" + data + b"\r\n"


JPEG = samples.photo_jpeg(64, 48)
END = b"--b0undary--\r\n"


@pytest.mark.parametrize(
    ("headers", "body", "status", "slug"),
    [
        (
            {"content-type": "multipart/form-data"},
            part("f", "image/jpeg", JPEG) + END,
            400,
            "bad-multipart",
        ),
        ({}, part("f", "image/jpeg", JPEG), 400, "bad-multipart"),  # no closing boundary
        ({}, part("f", "image/jpeg", JPEG)[:40], 400, "bad-multipart"),
        ({}, b"not multipart at all", 400, "bad-multipart"),
        (
            {},
            part("a", "image/jpeg", JPEG) + part("b", "image/jpeg", JPEG) + END,
            400,
            "bad-multipart",
        ),
        ({}, part("a", "text/plain", b"hello", filename=None) + END, 400, "bad-multipart"),
        ({}, part("f", "text/plain", JPEG) + END, 415, "unsupported-image"),
        ({}, part("f", "image/png", JPEG) + END, 415, "unsupported-image"),
        ({}, part("f", "image/jpeg", JPEG[:300]) + END, 422, "corrupt-image"),
    ],
)
def test_a_bad_multipart_upload_gets_a_clear_problem(
    api: ImageService, headers: dict[str, str], body: bytes, status: int, slug: str
) -> None:
    sent = {"content-type": "multipart/form-data; boundary=b0undary", **headers}
    answer = api.client.post(
        "/v1/images", content=body, headers={"authorization": f"Bearer {api.token}", **sent}
    )
    assert_problem(answer, status, slug)


def test_an_upload_needs_a_token(api: ImageService) -> None:
    answer = api.client.post("/v1/images", content=samples.photo_jpeg(32, 32))
    assert_problem(answer, 401, "unauthenticated")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "w=0",
        "w=abc",
        "w=-5",
        "w=5000",
        "w=100&h=1e3",
        "w=100&fit=stretch",
        "w=100&fit=cover",
        "w=100&format=bmp",
        "w=99999999999999999999",
    ],
)
def test_bad_thumbnail_parameters_are_400(api: ImageService, photo_id: str, query: str) -> None:
    answer = api.client.get(f"/v1/images/{photo_id}/thumbnail?{query}")
    assert_problem(answer, 400, "bad-parameter")


@pytest.mark.parametrize("image_id", ["0" * 64, "not-an-id", "A" * 64, "g" * 64, "%2e%2e"])
def test_unknown_images_are_404_on_every_endpoint(api: ImageService, image_id: str) -> None:
    assert_problem(api.client.get(f"/v1/images/{image_id}"), 404, "not-found")
    answer = api.client.get(f"/v1/images/{image_id}/thumbnail?w=10")
    assert_problem(answer, 404, "not-found")
