"""Process lifecycle hooks that the server library does not offer."""

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def on_termination(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` on SIGTERM/SIGINT, then let the server's own handler run as before.

    Used to turn readiness false the moment shutdown starts, while the server drains
    connections. Must be entered on the main thread (where signal handlers live).
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def chained(sig: int, frame: FrameType | None) -> None:
        callback()
        handler = previous[signal.Signals(sig)]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:
            signal.default_int_handler(sig, frame)

    for sig in previous:
        signal.signal(sig, chained)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
