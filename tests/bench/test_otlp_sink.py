"""The benchmark's local OTLP sink accepts exports, counts them and stops with its block."""

import httpx
import pytest
from bench.otlp_sink import otlp_sink


def test_sink_accepts_and_counts_exports_then_stops() -> None:
    with otlp_sink() as sink:
        assert sink.endpoint.startswith("http://127.0.0.1:")
        for body in (b"\x0a\x00", b"\x0a\x02\x01\x02"):
            answer = httpx.post(
                f"{sink.endpoint}/v1/traces",
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
                timeout=5,
            )
            assert answer.status_code == 200
        assert (sink.exports, sink.bytes) == (2, 6)
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{sink.endpoint}/v1/traces", content=b"x", timeout=2)
