"""Misbehaving work for the render pool's tests; module-level so worker processes can import it."""

import os
import threading


def crash() -> None:
    """A codec fault: the worker dies without raising (as a segfault in C would)."""
    os.abort()


def hang(release: threading.Event | None = None) -> str:
    """Occupy a worker until released (threads) or killed (processes)."""
    (release or threading.Event()).wait()
    return "released"


def pid() -> int:
    return os.getpid()
