"""Misbehaving work for the render pool's tests; module-level so worker processes can import it.

Work run in the pool returns bytes (the worker sends nothing else back).
"""

import os
import threading


def crash() -> bytes:
    """A codec fault: the worker dies without raising (as a segfault in C would)."""
    os.abort()


def hang(release: threading.Event | None = None) -> bytes:
    """Occupy a worker until released (threads) or killed (processes)."""
    (release or threading.Event()).wait()
    return b"released"


def pid() -> bytes:
    return str(os.getpid()).encode()


def fail() -> bytes:
    """A bug in codec code: an exception that is not a rejection."""
    raise KeyError("a bug")
