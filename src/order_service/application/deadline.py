"""The request's deadline, carried in a context variable so every call can bound itself by it.

The HTTP edge opens a deadline per request; adapters ask `remaining()` for the budget of a DB,
cache or outbound call instead of using a fixed timeout of their own.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from order_service.domain.errors import Unavailable

_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


class DeadlineExceeded(Unavailable):
    def __init__(self) -> None:
        super().__init__("the request's deadline passed before the work could finish", 0.0)


def set_deadline(at: float) -> Token[float | None]:
    """Set the deadline (a `time.monotonic()` instant) for the current context; see reset."""
    return _deadline.set(at)


def reset_deadline(token: Token[float | None]) -> None:
    _deadline.reset(token)


@contextmanager
def deadline_after(seconds: float) -> Iterator[None]:
    """Within the block, no call may take longer than `seconds` from now (or an outer deadline)."""
    at = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else min(at, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(cap: float) -> float:
    """Seconds left before the current deadline, at most `cap`.

    Raises DeadlineExceeded when the deadline has already passed, so that work which cannot
    finish in time is not started.
    """
    at = _deadline.get()
    if at is None:
        return cap
    left = at - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded
    return min(left, cap)
