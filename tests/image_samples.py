"""Images made in code for the tests and the benchmark: photo-like JPEGs and awkward files.

Nothing is downloaded. A "photo" is smooth gradients, blurred colour blobs and sensor-like
noise, so a JPEG encoder spends about as many bits on it as on a real photograph.
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image

ORIENTATION = 0x0112


def photo_array(width: int, height: int, seed: int = 0) -> "np.ndarray":
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(xs / width * 6.3 + seed),
            128 + 100 * np.cos(ys / height * 4.1),
            128 + 80 * np.sin((xs + ys) / (width + height) * 9),
        ],
        axis=-1,
    )
    coarse = rng.normal(0, 40, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    blobs = Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8))
    smooth = np.asarray(blobs.resize((width, height), Image.Resampling.BICUBIC), np.float32)
    noise = rng.normal(0, 8, (height, width, 3)).astype(np.float32)
    pixels: np.ndarray = np.clip(base + smooth - 128 + noise, 0, 255).astype(np.uint8)
    return pixels


def photo_jpeg(width: int, height: int, *, seed: int = 0, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(photo_array(width, height, seed)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def solid(
    width: int, height: int, colour: tuple[int, ...] = (200, 30, 30), mode: str = "RGB"
) -> Image.Image:
    return Image.new(mode, (width, height), colour)


def marked(width: int, height: int) -> Image.Image:
    """Red top-left quadrant on blue: where red ends up shows how the image was turned."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    return image


def with_orientation(image: Image.Image, orientation: int, **extra: int | str) -> bytes:
    """A JPEG whose stored pixels are `image` transformed so that `orientation` undoes it."""
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = image if inverse is None else image.transpose(inverse)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "SpyCam"  # Make: camera data that must not leak
    for tag, value in extra.items():
        exif[int(tag)] = value
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}  # GPS IFD
    return encode(marked(400, 300), "JPEG", quality=90, exif=exif.tobytes())


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def wide_gamut_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Adobe RGB (1998) primaries, built in code."""
    xyz = {
        b"rXYZ": (0.6097, 0.3111, 0.0195),
        b"gXYZ": (0.2053, 0.6257, 0.0609),
        b"bXYZ": (0.1492, 0.0632, 0.7446),
        b"wtpt": (0.9642, 1.0, 0.8249),
    }
    tags = [
        (sig, b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)) for sig, values in xyz.items()
    ]
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2
    tags += [(sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    description = b"wide"
    tags.append(
        (
            b"desc",
            b"desc\0\0\0\0"
            + struct.pack(">I", len(description) + 1)
            + description
            + b"\0"
            + bytes(79),
        )
    )
    offset = 128 + 4 + 12 * len(tags)
    table, blobs = b"", b""
    for signature, data in tags:
        padded = data + bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(blobs), len(data))
        blobs += padded
    body = struct.pack(">I", len(tags)) + table + blobs
    size = 128 + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + body


def wide_gamut_jpeg(colour: tuple[int, int, int] = (60, 160, 90)) -> bytes:
    """A JPEG of one colour whose pixels are in the wide-gamut profile above."""
    return encode(
        Image.new("RGB", (64, 64), colour), "JPEG", quality=100, icc_profile=wide_gamut_profile()
    )


def cmyk_jpeg() -> bytes:
    """Pure cyan in CMYK (as print workflows save product shots)."""
    return encode(Image.new("CMYK", (120, 80), (255, 0, 0, 0)), "JPEG", quality=95)


def png16() -> bytes:
    """A horizontal ramp over the whole 16-bit range."""
    array = np.tile(np.linspace(0, 65535, 64), (32, 1)).astype(np.uint16)
    return encode(Image.fromarray(array), "PNG")


def rgba_png(width: int = 100, height: int = 80) -> bytes:
    return encode(Image.new("RGBA", (width, height), (255, 0, 0, 0)), "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("P", (60, 40), index) for index in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (a decompression-bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose SOF marker is patched to claim `width` x `height`."""
    data = bytearray(encode(solid(16, 16), "JPEG"))
    at = data.index(b"\xff\xc0") + 5
    data[at : at + 4] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
