"""What the serving process knows of the Pillow codec, without importing Pillow's image modules.

Only render workers import pillow_codec (and PIL.Image, ImageCms, the plugins: ~0.08 s); the
serving process needs no more than the encoder's version, which output formats exist, and the
plain values that cross the socket to a worker (docs/images.md, "Start-up").
"""

import importlib
from dataclasses import dataclass
from typing import NamedTuple

import PIL  # the package alone: its version, none of its image modules

from order_service.domain.images import ImageFormat

ENCODER = f"pil{PIL.__version__}"

# Output formats that depend on how Pillow was built, by the codec module each needs.
_OPTIONAL_OUTPUTS = {"PIL._webp": ImageFormat.WEBP, "PIL._avif": ImageFormat.AVIF}


def available_outputs() -> frozenset[ImageFormat]:
    """JPEG and PNG always; WebP and AVIF when their codec module loads, which is what
    PIL.features.check decides too, without loading PIL.Image (a few ms, not ~0.08 s)."""
    outputs = {ImageFormat.JPEG, ImageFormat.PNG}
    for module, fmt in _OPTIONAL_OUTPUTS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        outputs.add(fmt)
    return frozenset(outputs)


class CodecRejection(Exception):
    """The input is not acceptable; `kind` is unsupported, corrupt or bomb. Pickles cleanly."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message


class RenderRequest(NamedTuple):
    """A ThumbnailSpec flattened to plain values for the trip to a worker process (a tuple:
    a fraction of a dataclass's pickling cost, on both sides of every render)."""

    width: int | None
    height: int | None
    fit: str
    format: str
    quality: int


@dataclass(frozen=True, slots=True)
class RenderResult:
    """A thumbnail's bytes and when each phase ran, for the parent's decode/resize/encode spans.

    Times are `time.time_ns()` wall-clock nanoseconds (OpenTelemetry's unit), taken in the
    worker: one clock for every process on the host, so they nest in the parent's span.
    """

    body: bytes
    phases: tuple[tuple[str, int, int], ...]
    stored: bool = False  # found complete where it was to be stored: not rendered, no phases
