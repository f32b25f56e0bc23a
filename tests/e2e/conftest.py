"""Fixtures shared by the end-to-end tests."""

from collections.abc import Iterator

import pytest

from tests.otlp_receiver import Receiver, otlp_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real OTLP/HTTP receiver on 127.0.0.1 for the services a test starts to export to."""
    with otlp_receiver() as running:
        yield running
