"""A local OTLP/HTTP sink on 127.0.0.1: accepts trace exports, counts them and drops them.

Used by the benchmark (bench/harness.py, bench/profile.py) and bench/observability_cost.py so
the service exports its sampled traces over the network as in production, to nowhere.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Sink:
    """Where the sink listens, and how many export requests and bytes it has received."""

    endpoint: str
    exports: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def received(self, size: int) -> None:
        with self._lock:
            self.exports += 1
            self.bytes += size


class _Handler(BaseHTTPRequestHandler):
    sink: Sink

    def do_POST(self) -> None:
        size = int(self.headers["Content-Length"])
        self.rfile.read(size)
        self.sink.received(size)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[Sink]:
    """A sink on a free port of 127.0.0.1, served from a thread for the life of the block."""
    sink = Sink("")

    class _Bound(_Handler):
        pass

    _Bound.sink = sink
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bound)
    sink.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
