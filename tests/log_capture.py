"""Capture what the service logs, through its own configured handler and formatter."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from order_service.platform.logging import configure_logging


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """configure_logging() writing to a buffer; the previous handlers come back afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], root.level = saved


def logged(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]
