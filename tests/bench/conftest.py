"""Fixtures of the benchmark tools' smoke tests."""

import shutil

import pytest

from tests.conftest import IN_CI


@pytest.fixture
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        message = "wrk is not installed (Debian package `wrk`, see .ci/apt-packages.txt)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)  # only on a laptop without wrk; CI fails above instead
    return found
