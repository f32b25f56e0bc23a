"""RFC 9457 problem documents, and the one mapping from domain errors to HTTP statuses."""

from http import HTTPStatus
from typing import Any

import msgspec

from order_service.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Throttled,
    Unauthenticated,
    Unavailable,
)
from order_service.domain.images import (
    BadThumbnailParameter,
    CorruptImage,
    DecompressionBomb,
    ImageTooLarge,
    RenderFailed,
    UnsupportedImage,
)

PROBLEM_CONTENT_TYPE = b"application/problem+json"
_TYPE_PREFIX = "urn:order-service:problem:"


class Problem(msgspec.Struct, omit_defaults=True):
    """An error response body (RFC 9457). `type` is a stable URN clients can switch on."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


class HttpProblem(Exception):
    """Raised anywhere in the HTTP adapter to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str | None = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail or slug)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or []
        self.errors = errors

    def body(self, instance: str) -> Problem:
        return Problem(
            type=_TYPE_PREFIX + self.slug,
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


def _retry_after(seconds: float) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(max(1, round(seconds + 0.5))).encode())]


def _image_problem(error: DomainError, detail: str) -> HttpProblem | None:
    """The thumbnailer's errors (docs/images.md), checked before the generic mapping."""
    match error:
        case UnsupportedImage():
            return HttpProblem(415, "unsupported-image", detail)
        case ImageTooLarge():
            return HttpProblem(413, "image-too-large", detail)
        case CorruptImage():
            return HttpProblem(422, "corrupt-image", detail)
        case DecompressionBomb():
            return HttpProblem(422, "too-many-pixels", detail)
        case BadThumbnailParameter():
            return HttpProblem(
                400, "bad-parameter", detail, errors=[{"pointer": error.field, "detail": detail}]
            )
        case RenderFailed():
            return HttpProblem(500, "render-failed", detail)
        case _:
            return None


def problem_from_domain(error: DomainError) -> HttpProblem:
    """The HTTP face of a domain error; the only place that knows both."""
    detail = str(error)
    image = _image_problem(error, detail)
    if image is not None:
        return image
    match error:
        case InvalidInput():
            return HttpProblem(
                422,
                "invalid-field",
                detail,
                errors=[{"pointer": f"$.{error.field}", "detail": detail}],
            )
        case NotFound():
            return HttpProblem(404, "not-found", detail)
        case Conflict():
            return HttpProblem(409, "conflict", detail)
        case Unauthenticated():
            return HttpProblem(
                401,
                "unauthenticated",
                detail,
                headers=[(b"www-authenticate", b'Bearer error="invalid_token"')],
            )
        case Forbidden():
            return HttpProblem(403, "forbidden", detail)
        case Throttled():
            return HttpProblem(429, "throttled", detail, headers=_retry_after(error.retry_after))
        case Unavailable():
            return HttpProblem(503, "unavailable", detail, headers=_retry_after(error.retry_after))
        case _:
            return HttpProblem(400, "bad-request", detail)


def validation_problem(error: msgspec.DecodeError) -> HttpProblem:
    """400 for JSON that does not parse, 422 for JSON of the wrong shape, naming the field."""
    if not isinstance(error, msgspec.ValidationError):
        return HttpProblem(400, "malformed-json", f"the body is not valid JSON: {error}")
    message = str(error)
    pointer = "$"
    if " - at `" in message:
        message, _, where = message.rpartition(" - at `")
        pointer = where.rstrip("`")
    return HttpProblem(422, "validation", message, errors=[{"pointer": pointer, "detail": message}])


def problem_schema() -> dict[str, Any]:
    return msgspec.json.schema(Problem)
