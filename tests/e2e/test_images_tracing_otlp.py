"""A thumbnail render's trace reaches a real OTLP receiver: decode, resize, encode and store
spans, timed in the render worker process, nested in the server's `image render` span."""

import itertools
from pathlib import Path

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests import image_samples as samples
from tests.e2e.images_client import image_service
from tests.otlp_receiver import Receiver

TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4737"
PARENT_ID = "10f067aa0ba902b8"


def test_decode_resize_encode_and_store_are_children_of_the_render_span(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        # Only the incoming traceparent decides: the upload (no traceparent) is not sampled.
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # spans arrive through the flush at shutdown
    }
    with image_service(tmp_path, env) as api:
        uploaded = api.upload(samples.photo_jpeg(800, 600, seed=3))
        assert uploaded.status_code == 201, uploaded.text
        answer = api.client.get(
            f"/v1/images/{uploaded.json()['id']}/thumbnail?w=120&h=90&format=webp",
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        assert answer.status_code == 200, answer.text
        assert api.service.stop() == 0
    render = receiver.named("image render")
    assert render.trace_id.hex() == TRACE_ID
    # With the filesystem store the worker also writes the variant: the fourth phase.
    names = ("decode", "resize", "encode", "store")
    phases = [receiver.named(f"image {name}") for name in names]
    for phase in phases:
        assert phase.trace_id == render.trace_id
        assert phase.parent_span_id == render.span_id
        assert phase.kind == Span.SPAN_KIND_INTERNAL
        assert render.start_time_unix_nano <= phase.start_time_unix_nano
        assert phase.start_time_unix_nano <= phase.end_time_unix_nano
        assert phase.end_time_unix_nano <= render.end_time_unix_nano
    # One after the other, in the order the worker ran them.
    for earlier, later in itertools.pairwise(phases):
        assert earlier.end_time_unix_nano <= later.start_time_unix_nano
    assert phases[0].end_time_unix_nano > phases[0].start_time_unix_nano  # decoding took time
