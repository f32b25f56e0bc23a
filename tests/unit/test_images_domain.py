"""Thumbnail requests: parameter validation, content negotiation and variant identity."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_service.adapters.images.codec_values import RenderRequest
from order_service.adapters.images.pillow_codec import render_thumbnail
from order_service.domain.images import (
    BadThumbnailParameter,
    Fit,
    ImageFormat,
    ThumbnailLimits,
    ThumbnailSpec,
    etag_for,
    looks_complete,
    negotiate_format,
    parse_thumbnail_spec,
)
from tests import image_samples as samples

ALL = frozenset(ImageFormat) - {ImageFormat.GIF}


def parse(**params: str | None) -> ThumbnailSpec:
    values: dict[str, str | None] = {"w": None, "h": None, "fit": None, "format": None}
    values.update(params)
    return parse_thumbnail_spec(
        width=values["w"],
        height=values["h"],
        fit=values["fit"],
        format=values["format"],
        accept=params.get("accept"),
        quality=80,
        limits=ThumbnailLimits(max_side=2048, outputs=ALL),
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, ImageFormat.JPEG),
        ("*/*", ImageFormat.JPEG),
        ("image/*", ImageFormat.JPEG),
        ("image/webp,image/*,*/*;q=0.8", ImageFormat.WEBP),
        ("image/avif,image/webp,*/*", ImageFormat.AVIF),
        ("image/avif;q=0,image/webp", ImageFormat.WEBP),
        ("IMAGE/WEBP", ImageFormat.WEBP),
        ("image/webp;q=oops", ImageFormat.JPEG),
    ],
)
def test_accept_negotiates_newer_formats_only_when_named(
    accept: str | None, expected: ImageFormat
) -> None:
    assert negotiate_format(accept, ALL) is expected


def test_negotiation_never_picks_a_format_the_encoder_lacks() -> None:
    assert negotiate_format("image/avif", {ImageFormat.JPEG, ImageFormat.PNG}) is ImageFormat.JPEG


def test_a_valid_request_is_normalised() -> None:
    spec = parse(w="256", h="128", fit="cover", format="WEBP")
    assert spec == ThumbnailSpec(256, 128, Fit.COVER, ImageFormat.WEBP, 80)


def test_an_allow_list_limits_the_boxes() -> None:
    limits = ThumbnailLimits(allowed=frozenset({(256, 256), (128, 0)}))

    def ask(width: str | None, height: str | None) -> ThumbnailSpec:
        return parse_thumbnail_spec(
            width=width,
            height=height,
            fit=None,
            format="jpeg",
            accept=None,
            quality=80,
            limits=limits,
        )

    assert ask("128", None).width == 128
    assert ask("256", "256").height == 256
    with pytest.raises(BadThumbnailParameter):
        ask("255", "256")


@pytest.mark.parametrize("value", ["0", "-1", "2049", "1e3", " 12", "²", "١٢", "9" * 30, "abc"])
def test_out_of_range_or_non_ascii_sides_are_refused(value: str) -> None:
    with pytest.raises(BadThumbnailParameter) as refused:
        parse(w=value)
    assert refused.value.field == "w"


@given(
    w=st.none() | st.text(max_size=8),
    h=st.none() | st.text(max_size=8),
    fit=st.none() | st.text(max_size=8),
    fmt=st.none() | st.text(max_size=8),
    accept=st.none() | st.text(max_size=40),
)
def test_any_query_is_either_a_spec_or_a_bad_parameter(
    w: str | None, h: str | None, fit: str | None, fmt: str | None, accept: str | None
) -> None:
    try:
        spec = parse(w=w, h=h, fit=fit, format=fmt, accept=accept)
    except BadThumbnailParameter:
        return
    assert spec.width is None or 1 <= spec.width <= 2048
    assert spec.height is None or 1 <= spec.height <= 2048
    assert spec.format in ALL


def test_the_variant_key_and_etag_name_every_input_of_the_bytes() -> None:
    spec = ThumbnailSpec(256, None, Fit.CONTAIN, ImageFormat.PNG, 80)
    key = spec.key("ab" * 32, "pil13")
    assert key == f"{'ab' * 32}/256x0-contain-q80-pil13.png"
    assert etag_for(key) == etag_for(key)
    assert etag_for(key) != etag_for(spec.key("ab" * 32, "pil14"))
    assert etag_for(key).startswith('"')


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif"])
def test_a_whole_encoding_looks_complete_and_a_cut_one_does_not(fmt: str) -> None:
    request = RenderRequest(width=64, height=64, fit="contain", format=fmt, quality=70)
    whole = render_thumbnail(samples.photo_jpeg(200, 150), request, 50_000_000)
    assert looks_complete(whole, ImageFormat(fmt))
    for cut in (b"", whole[:10], whole[: len(whole) // 2], whole[:-1]):
        assert not looks_complete(cut, ImageFormat(fmt)), len(cut)
