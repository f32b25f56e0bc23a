"""HTTP routes of the thumbnailer: upload an original, read it, read its thumbnails.

Originals and thumbnails are immutable (named by content hash and normalised parameters), so
both carry a strong ETag and `Cache-Control: public, max-age=31536000, immutable`.
"""

from typing import NamedTuple
from urllib.parse import parse_qs

import msgspec
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from order_service.adapters.http.app import Request, Response, Route, json_response
from order_service.adapters.http.problems import HttpProblem
from order_service.application.images import Images
from order_service.domain.images import (
    ImageFormat,
    ImageInfo,
    UnsupportedImage,
    etag_for,
    is_image_id,
    parse_thumbnail_spec,
)

IMMUTABLE = b"public, max-age=31536000, immutable"
# Content-Types an upload may declare; the bytes decide the format, these only must not lie.
_DECLARED = {
    b"image/jpeg": ImageFormat.JPEG,
    b"image/jpg": ImageFormat.JPEG,
    b"image/pjpeg": ImageFormat.JPEG,
    b"image/png": ImageFormat.PNG,
    b"image/webp": ImageFormat.WEBP,
    b"image/gif": ImageFormat.GIF,
    b"image/avif": ImageFormat.AVIF,
}
_ANY = frozenset({b"application/octet-stream", b""})
# Requests remembered by their raw form for the cached fast path (entries are small: the
# bodies stay in the use case's byte-bounded LRU).
_FAST_ENTRIES = 8192


_MULTIPART = b"multipart/form-data"


class _Part:
    __slots__ = ("data", "headers")

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.data = bytearray()


def _bad_multipart(detail: str) -> HttpProblem:
    return HttpProblem(400, "bad-multipart", detail)


def single_file(content_type: bytes, body: bytes) -> tuple[bytes, bytes]:
    """(declared type, bytes) of the one file part of a multipart/form-data body.

    The body is already in memory and bounded by the route's limit, so python-multipart's
    streaming parser runs over it in one call; anything but exactly one file part is a 400.
    """
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise _bad_multipart("multipart/form-data needs a boundary")
    parts: list[_Part] = []
    field, value = bytearray(), bytearray()
    ended = False

    def on_part_begin() -> None:
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1].headers[bytes(field).lower()] = bytes(value)
        field.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data.extend(data[start:end])

    def on_end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_end": on_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise _bad_multipart(f"malformed multipart body: {error}") from None
    if not ended:
        raise _bad_multipart("the multipart body ends before its closing boundary")
    files = [
        part
        for part in parts
        if b"filename" in parse_options_header(part.headers.get(b"content-disposition", b""))[1]
    ]
    if len(files) != 1:
        raise _bad_multipart(f"send exactly one file part, not {len(files)}")
    (found,) = files
    declared = parse_options_header(found.headers.get(b"content-type", b""))[0]
    return declared.lower(), bytes(found.data)


class _Served(NamedTuple):
    """How a thumbnail request was answered: enough to answer it again without parsing it."""

    key: str  # the variant's key in the use case's memory cache
    etag: str
    headers: list[tuple[bytes, bytes]]  # shared, never mutated (Response copies them)
    media_type: bytes


class ImageLinks(msgspec.Struct):
    self: str
    original: str
    thumbnail: str


class ImageOut(msgspec.Struct):
    id: str
    width: int
    height: int
    format: str
    bytes: int
    links: ImageLinks

    @classmethod
    def of(cls, info: ImageInfo) -> "ImageOut":
        base = original_url(info.id)
        return cls(
            id=info.id,
            width=info.width,
            height=info.height,
            format=info.format.value,
            bytes=info.bytes,
            links=ImageLinks(self=base, original=base, thumbnail=default_thumbnail_url(info.id)),
        )


def original_url(image_id: str) -> str:
    return f"/v1/images/{image_id}"


def default_thumbnail_url(image_id: str) -> str:
    """The thumbnail every listing links to, so clients share one cached variant."""
    return f"{original_url(image_id)}/thumbnail?w=256&h=256&fit=contain"


def _image_id(request: Request) -> str:
    image_id = request.path_params["id"]
    if not is_image_id(image_id):
        raise HttpProblem(404, "not-found", f"no image {image_id[:80]}")
    return image_id


def _matches(request: Request, etag: str) -> bool:
    header = request.header(b"if-none-match")
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.decode("latin-1").split(",")}
    return etag in tags or "*" in tags


def thumbnail_query(query_string: bytes) -> dict[str, str]:
    """The first value of each query parameter, as `parse_qs` would give them.

    A thumbnail's query is a few plain `name=value` pairs, split here directly; one with
    percent-escapes or `+` goes through `parse_qs` to be decoded the standard way.
    """
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text:
        parsed = parse_qs(text, keep_blank_values=True)
        return {name: values[0] for name, values in parsed.items()}
    query: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            query.setdefault(name, value)
    return query


def image_routes(images: Images, *, max_upload_bytes: int) -> list[Route]:
    async def upload(request: Request) -> Response:
        content_type = request.header(b"content-type") or b""
        declared = content_type.split(b";", 1)[0].strip().lower()
        data = request.body
        if declared == _MULTIPART:
            declared, data = single_file(content_type, data)
        claimed = _DECLARED.get(declared)
        if claimed is None and declared not in _ANY:
            raise UnsupportedImage("send the image as its image/* type or application/octet-stream")
        result = await images.upload(request.authenticated, data, declared=claimed)
        info = result.info
        location = f"/v1/images/{info.id}".encode()
        return json_response(
            ImageOut.of(info), 201 if result.created else 200, [(b"location", location)]
        )

    async def original(request: Request) -> Response:
        image_id = _image_id(request)
        etag = f'"{image_id}"'
        headers = [
            (b"etag", etag.encode()),
            (b"cache-control", IMMUTABLE),
            (b"x-content-type-options", b"nosniff"),
        ]
        if _matches(request, etag):
            await images.info(image_id)
            return Response(304, b"", headers)
        info, data = await images.original(image_id)
        return Response(200, data, headers, info.format.media_type.encode())

    # The cached hit path: a dict lookup on the raw request (id, query string, Accept), then
    # the memory LRU. The first request of each raw form takes the full path below and fills
    # this; a form whose variant was evicted from memory falls through to it again.
    served: dict[tuple[str, bytes, bytes | None], _Served] = {}

    async def thumbnail(request: Request) -> Response:
        accept = request.header(b"accept")
        raw = (request.path_params["id"], request.query_string, accept)
        known = served.get(raw)
        if known is not None:
            if _matches(request, known.etag):
                return Response(304, b"", known.headers, known.media_type)
            body = images.from_memory(known.key)
            if body is not None:
                return Response(200, body, known.headers, known.media_type)
        image_id = _image_id(request)
        query = thumbnail_query(request.query_string)
        explicit = query.get("format")
        spec = parse_thumbnail_spec(
            width=query.get("w"),
            height=query.get("h"),
            fit=query.get("fit"),
            format=explicit,
            accept=accept.decode("latin-1") if accept else None,
            quality=images.quality,
            limits=images.limits,
        )
        headers = [(b"cache-control", IMMUTABLE), (b"x-content-type-options", b"nosniff")]
        if not explicit:
            headers.append((b"vary", b"Accept"))
        variant = images.variant(image_id, spec)
        etag = etag_for(variant)
        headers.append((b"etag", etag.encode()))
        media_type = spec.format.media_type.encode()
        if _matches(request, etag) and await images.is_known(image_id, spec):
            return Response(304, b"", headers, media_type)
        rendered = await images.thumbnail(image_id, spec)
        if len(served) >= _FAST_ENTRIES:
            served.clear()  # rebuilt by the next requests; cheaper than an LRU on every hit
        served[raw] = _Served(variant, etag, headers, media_type)
        return Response(200, rendered.body, headers, media_type)

    return [
        Route(
            "POST",
            "/v1/images",
            upload,
            "uploadImage",
            "Upload an image (the raw body, or one file part of multipart/form-data); "
            "the same bytes are stored once",
            "images",
            responses={201: ImageOut, 200: ImageOut},
            problems=(400, 401, 413, 415, 422, 503),
            authenticated=True,
            max_body_bytes=max_upload_bytes,
        ),
        Route(
            "GET",
            "/v1/images/{id}",
            original,
            "getImage",
            "The original image, as uploaded",
            "images",
            responses={200: None, 304: None},
            problems=(404,),
        ),
        Route(
            "GET",
            "/v1/images/{id}/thumbnail",
            thumbnail,
            "getThumbnail",
            "A thumbnail: ?w=&h=&fit=contain|cover&format=jpeg|png|webp|avif (else from Accept)",
            "images",
            responses={200: None, 304: None},
            problems=(400, 404, 422, 500, 503),
        ),
    ]
