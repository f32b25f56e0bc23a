"""The Pillow codec, called directly: geometry, orientation, colour, alpha, metadata, hostility."""

import io
import os
import random

import pytest
from PIL import Image

from order_service.adapters.images.codec_values import (
    CodecRejection,
    RenderRequest,
    available_outputs,
)
from order_service.adapters.images.pillow_codec import (
    inspect_image,
    plan,
    render_thumbnail,
)
from order_service.domain.images import Fit
from tests import image_samples as samples

MAX_PIXELS = 50_000_000


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    pixel = image.convert("RGB").getpixel(xy)
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def near(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 60) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def render(
    data: bytes, w: int | None, h: int | None, fit: str = "contain", fmt: str = "jpeg"
) -> Image.Image:
    out = render_thumbnail(data, RenderRequest(w, h, fit, fmt, 85), MAX_PIXELS)
    image = Image.open(io.BytesIO(out))
    image.load()
    return image


@pytest.mark.parametrize(
    ("source", "box", "fit", "expected"),
    [
        ((4000, 3000), (256, 256), Fit.CONTAIN, (256, 192)),
        ((3000, 4000), (256, 256), Fit.CONTAIN, (192, 256)),
        ((4000, 3000), (256, 256), Fit.COVER, (256, 256)),
        ((4000, 3000), (300, 100), Fit.COVER, (300, 100)),
        ((4000, 3000), (256, None), Fit.CONTAIN, (256, 192)),
        ((4000, 3000), (None, 30), Fit.CONTAIN, (40, 30)),
        ((100, 50), (256, 256), Fit.CONTAIN, (100, 50)),  # never enlarged
        ((100, 50), (256, 256), Fit.COVER, (50, 50)),  # largest centred square, not enlarged
    ],
)
def test_plan_gives_the_size_each_fit_mode_promises(
    source: tuple[int, int],
    box: tuple[int | None, int | None],
    fit: Fit,
    expected: tuple[int, int],
) -> None:
    assert plan(source, box, fit)[0] == expected


@pytest.mark.parametrize(("fit", "size"), [("contain", (256, 192)), ("cover", (256, 256))])
def test_a_photo_renders_to_the_box_of_its_fit_mode(fit: str, size: tuple[int, int]) -> None:
    image = render(samples.photo_jpeg(1600, 1200), 256, 256, fit)
    assert image.format == "JPEG"
    assert image.size == size


def test_cover_crops_around_the_centre() -> None:
    # Left third red, middle green, right third blue; a square cover keeps the middle.
    source = Image.new("RGB", (300, 100), (255, 0, 0))
    source.paste((0, 255, 0), (100, 0, 200, 100))
    source.paste((0, 0, 255), (200, 0, 300, 100))
    image = render(samples.encode(source, "PNG"), 50, 50, "cover", "png")
    assert image.size == (50, 50)
    assert rgb(image, (25, 25)) == (0, 255, 0)
    assert near(rgb(image, (1, 1)), (0, 255, 0), 10), "no red or blue from the cropped sides"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_dropped(orientation: int) -> None:
    data = samples.with_orientation(samples.marked(200, 100), orientation)
    image = render(data, 100, 100, "contain", "png")
    assert image.size == (100, 50)
    assert near(rgb(image, (10, 5)), (255, 0, 0)), "top-left is red"
    assert near(rgb(image, (90, 45)), (0, 0, 255)), "bottom-right is blue"


def test_orientation_is_honoured_with_jpeg_shrink_on_load() -> None:
    data = samples.with_orientation(samples.marked(2000, 1000), 6)
    image = render(data, 200, 200)
    assert image.size == (200, 100)


def test_a_png_with_exif_orientation_is_verified_and_oriented() -> None:
    exif = Image.Exif()
    exif[samples.ORIENTATION] = 6
    data = samples.encode(samples.marked(200, 100), "PNG", exif=exif.tobytes())
    assert inspect_image(data, MAX_PIXELS) == ("png", 100, 200)


def test_upload_inspection_reports_the_displayed_size() -> None:
    data = samples.with_orientation(samples.marked(200, 100), 8)
    assert inspect_image(data, MAX_PIXELS) == ("jpeg", 200, 100)


def test_alpha_is_flattened_on_white_for_jpeg_and_kept_for_png() -> None:
    data = samples.rgba_png()
    jpeg = render(data, 50, 50, "contain", "jpeg")
    assert jpeg.mode == "RGB"
    assert near(rgb(jpeg, (10, 10)), (255, 255, 255), 8)
    png = render(data, 50, 50, "contain", "png")
    assert png.mode == "RGBA"
    assert png.getchannel("A").getextrema() == (0, 0)


def test_cmyk_jpeg_comes_out_rgb() -> None:
    image = render(samples.cmyk_jpeg(), 60, 60)
    assert image.mode == "RGB"
    assert near(rgb(image, (5, 5)), (0, 255, 255), 90), "cyan stays cyan"


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    image = render(samples.png16(), 64, 64, "contain", "png")
    assert image.mode == "L"
    assert near(rgb(image, (1, 16)), (0, 0, 0), 20)
    assert near(rgb(image, (62, 16)), (255, 255, 255), 20)


def test_animated_gif_renders_its_first_frame() -> None:
    first = rgb(Image.open(io.BytesIO(samples.animated_gif())), (0, 0))
    image = render(samples.animated_gif(), 30, 30, "contain", "png")
    assert image.size == (30, 20)
    assert rgb(image, (5, 5)) == first


def test_an_icc_profile_is_converted_to_srgb_and_not_embedded() -> None:
    image = render(samples.wide_gamut_jpeg((60, 160, 90)), 32, 32, "contain", "png")
    # lcms maps this wide-gamut green to about (0, 161, 85) in sRGB; untagged it stays put.
    assert near(rgb(image, (16, 16)), (0, 161, 85), 12)
    assert "icc_profile" not in image.info


@pytest.mark.parametrize("fmt", sorted(f.value for f in available_outputs()))
def test_no_exif_gps_or_profile_reaches_any_output(fmt: str) -> None:
    out = render_thumbnail(
        samples.jpeg_with_gps(), RenderRequest(100, 100, "contain", fmt, 80), MAX_PIXELS
    )
    assert b"SpyCam" not in out
    assert b"Exif\x00" not in out
    image = Image.open(io.BytesIO(out))
    assert not image.getexif()
    assert "icc_profile" not in image.info


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "unsupported"),
        (os.urandom(4096), "unsupported"),
        # A 16x16 logical screen, then garbage: random dimensions would sometimes (rightly)
        # be a bomb instead of corrupt, so the bytes are fixed.
        (b"GIF89a\x10\x00\x10\x00" + random.Random(7).randbytes(60), "corrupt"),  # noqa: S311
        (b"%PDF-1.4\n" + samples.photo_jpeg(32, 32), "unsupported"),  # polyglot: PDF first
        (samples.encode(samples.solid(20, 20), "BMP"), "unsupported"),  # real image, not allowed
        (samples.encode(samples.solid(20, 20), "TIFF"), "unsupported"),
        (samples.photo_jpeg(400, 300)[:3000], "corrupt"),  # truncated
        (samples.png_declaring(100_000, 100_000), "bomb"),
        (samples.jpeg_declaring(60_000, 60_000), "bomb"),
        (samples.encode(Image.fromarray(samples.photo_array(300, 200)), "PNG")[:20_000], "corrupt"),
    ],
    ids=[
        "empty",
        "random",
        "gif-garbage",
        "pdf-polyglot",
        "bmp",
        "tiff",
        "truncated",
        "png-bomb",
        "jpeg-bomb",
        "cut-png",
    ],
)
def test_hostile_uploads_are_rejected_with_a_reason(data: bytes, kind: str) -> None:
    with pytest.raises(CodecRejection) as at_upload:
        inspect_image(data, MAX_PIXELS)
    assert at_upload.value.kind == kind


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "unsupported"),
        (samples.photo_jpeg(400, 300)[:3000], "corrupt"),
        (samples.png_declaring(100_000, 100_000), "bomb"),
    ],
    ids=["empty", "truncated", "bomb"],
)
def test_the_renderer_checks_again_what_upload_checked(data: bytes, kind: str) -> None:
    # Defence in depth: a blob written by an older version, or by hand, is not trusted either.
    with pytest.raises(CodecRejection) as at_render:
        render_thumbnail(data, RenderRequest(64, 64, "contain", "jpeg", 80), MAX_PIXELS)
    assert at_render.value.kind == kind


# Pillow warns just below its own bomb limit; the rejection is what this test checks.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_pixel_limit_is_configurable() -> None:
    data = samples.photo_jpeg(200, 200)
    with pytest.raises(CodecRejection) as caught:
        inspect_image(data, 39_999)
    assert caught.value.kind == "bomb"
    assert inspect_image(data, 40_000) == ("jpeg", 200, 200)
