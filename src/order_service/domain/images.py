"""Images and their thumbnails: identity, formats, the thumbnail request and its cache key.

An image is named by the SHA-256 of its bytes, so the same upload is stored once and a
thumbnail's identity (and strong ETag) follows from the image, the normalised parameters and
the encoder version alone.
"""

import enum
import hashlib
import re
import struct
from collections.abc import Collection
from dataclasses import dataclass

from order_service.domain.errors import DomainError, InvalidInput, NotFound, Unavailable

_IMAGE_ID = re.compile(r"^[0-9a-f]{64}$")


class ImageFormat(enum.StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    AVIF = "avif"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"


# Formats a thumbnail may be encoded to, in the order the server prefers them.
OUTPUT_PREFERENCE = (ImageFormat.AVIF, ImageFormat.WEBP, ImageFormat.JPEG, ImageFormat.PNG)


class Fit(enum.StrEnum):
    CONTAIN = "contain"  # the whole image inside the box, aspect ratio kept
    COVER = "cover"  # the box filled exactly, the overflow cropped around the centre


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the service knows of a stored original."""

    id: str
    format: ImageFormat
    width: int
    height: int
    bytes: int


class ImageNotFound(NotFound):
    def __init__(self, image_id: str) -> None:
        super().__init__(f"no image {image_id}")


class ImageRejected(DomainError):
    """An upload the service will not store; `reason` is a stable label for metrics."""

    reason = "rejected"


class UnsupportedImage(ImageRejected):
    """The bytes are not an image in a supported format (whatever the Content-Type said)."""

    reason = "unsupported"


class ImageTooLarge(ImageRejected):
    """The upload has more bytes than the configured limit."""

    reason = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the image must be at most {limit} bytes")
        self.limit = limit


class CorruptImage(ImageRejected):
    """The format is recognised but the data is truncated or malformed."""

    reason = "corrupt"


class DecompressionBomb(ImageRejected):
    """The header declares more pixels than the service will decode."""

    reason = "too_many_pixels"


class BadThumbnailParameter(InvalidInput):
    """A query parameter of a thumbnail request is missing, malformed or out of bounds."""


class OriginalMissing(NotFound):
    """The original's bytes are not in the blob store, though its metadata is."""


class RenderUnavailable(Unavailable):
    """The render pool is saturated or a render failed for a transient reason; retry later."""


class RenderFailed(DomainError):
    """The codec failed on an image that was accepted at upload (a crash, an internal error)."""


def is_image_id(value: str) -> bool:
    return _IMAGE_ID.match(value) is not None


def image_id_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ThumbnailLimits:
    """What a client may ask for: sides up to `max_side`, and only `allowed` boxes if given."""

    max_side: int = 2048
    allowed: frozenset[tuple[int, int]] = frozenset()
    outputs: frozenset[ImageFormat] = frozenset(OUTPUT_PREFERENCE)


@dataclass(frozen=True, slots=True)
class ThumbnailSpec:
    """A normalised thumbnail request: a box, a fit mode and an output format.

    With `fit=contain` a missing side means "unbounded" (the image's aspect ratio decides);
    `cover` needs both. Images are never enlarged.
    """

    width: int | None
    height: int | None
    fit: Fit
    format: ImageFormat
    quality: int

    @property
    def box(self) -> tuple[int | None, int | None]:
        return self.width, self.height

    def key(self, image_id: str, encoder: str) -> str:
        """The variant's content address: everything that decides its bytes, normalised."""
        width = self.width or 0
        height = self.height or 0
        return (
            f"{image_id}/{width}x{height}-{self.fit.value}-q{self.quality}"
            f"-{encoder}.{self.format.value}"
        )

    @property
    def size_class(self) -> str:
        """A small label for metrics: the longest side, bucketed."""
        side = max(self.width or 0, self.height or 0)
        for bound, label in ((128, "s"), (512, "m"), (1024, "l")):
            if side <= bound:
                return label
        return "xl"


def etag_for(variant_key: str) -> str:
    """A strong ETag: the key identifies the bytes exactly, so equal tags mean equal bytes."""
    return '"' + hashlib.sha256(variant_key.encode()).hexdigest()[:32] + '"'


def _side(name: str, raw: str | None, limits: ThumbnailLimits) -> int | None:
    if raw is None or raw == "":
        return None
    # isascii too: "²" is a digit to str.isdigit but not to int().
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise BadThumbnailParameter(name, f"{name} must be a positive integer")
    value = int(raw)
    if not 1 <= value <= limits.max_side:
        raise BadThumbnailParameter(name, f"{name} must be between 1 and {limits.max_side}")
    return value


def parse_thumbnail_spec(
    *,
    width: str | None,
    height: str | None,
    fit: str | None,
    format: str | None,  # noqa: A002 - the query parameter's public name
    accept: str | None,
    quality: int,
    limits: ThumbnailLimits,
) -> ThumbnailSpec:
    """Validate a thumbnail request's parameters; raise InvalidInput naming the bad one."""
    w = _side("w", width, limits)
    h = _side("h", height, limits)
    if w is None and h is None:
        raise BadThumbnailParameter("w", "give w, h or both")
    try:
        mode = Fit(fit or Fit.CONTAIN)
    except ValueError:
        raise BadThumbnailParameter("fit", "fit must be contain or cover") from None
    if mode is Fit.COVER and (w is None or h is None):
        raise BadThumbnailParameter("fit", "fit=cover needs both w and h")
    if limits.allowed and (w or 0, h or 0) not in limits.allowed:
        sizes = ", ".join(f"{a}x{b}" for a, b in sorted(limits.allowed))
        raise BadThumbnailParameter("w", f"the size must be one of {sizes}")
    if format:
        try:
            chosen = ImageFormat(format.lower())
        except ValueError:
            chosen = None
        if chosen is None or chosen not in limits.outputs:
            names = ", ".join(f.value for f in OUTPUT_PREFERENCE if f in limits.outputs)
            raise BadThumbnailParameter("format", f"format must be one of {names}")
    else:
        chosen = negotiate_format(accept, limits.outputs)
    return ThumbnailSpec(width=w, height=h, fit=mode, format=chosen, quality=quality)


def negotiate_format(accept: str | None, available: Collection[ImageFormat]) -> ImageFormat:
    """The best output the client takes: AVIF, then WebP when accepted explicitly; else JPEG.

    Wildcards do not opt a client into the newer formats (browsers send `*/*` even when they
    cannot decode AVIF); JPEG is the universal answer.
    """
    if accept:
        accepted = _accepted_media_types(accept)
        for candidate in (ImageFormat.AVIF, ImageFormat.WEBP):
            if candidate in available and candidate.media_type in accepted:
                return candidate
        if ImageFormat.JPEG not in available and ImageFormat.PNG in available:
            return ImageFormat.PNG
    return ImageFormat.JPEG


def _accepted_media_types(accept: str) -> set[str]:
    accepted: set[str] = set()
    for part in accept.split(",")[:32]:
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            accepted.add(media.strip().lower())
    return accepted


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A rendered variant ready to serve."""

    body: bytes
    format: ImageFormat
    etag: str


def looks_complete(data: bytes, fmt: ImageFormat) -> bool:
    """Whether an encoded variant ends where its format says it ends (a constant-time check).

    Variants are written without fsync (they can be rendered again), so after a power loss a
    file can be empty or cut short; such a blob must be rendered again, never served forever
    under an immutable ETag.
    """
    if fmt is ImageFormat.JPEG:
        return data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")
    if fmt is ImageFormat.PNG:
        return data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")
    if fmt is ImageFormat.WEBP:
        return (
            len(data) >= 12
            and data.startswith(b"RIFF")
            and struct.unpack_from("<I", data, 4)[0] + 8 == len(data)
        )
    return _boxes_fill(data)


def _boxes_fill(data: bytes) -> bool:
    """ISO BMFF (AVIF): the top-level boxes' sizes add up to exactly the data's length."""
    offset, boxes = 0, 0
    while offset < len(data) and boxes < 64:
        if len(data) - offset < 8:
            return False
        size = struct.unpack_from(">I", data, offset)[0]
        if size == 1 and len(data) - offset >= 16:
            size = struct.unpack_from(">Q", data, offset + 8)[0]
        elif size == 0:
            size = len(data) - offset  # the last box runs to the end
        if size < 8:
            return False
        offset += size
        boxes += 1
    return offset == len(data) and boxes > 0
