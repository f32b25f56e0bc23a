"""Logs: one JSON object per line on stdout (readable text on a terminal), secrets redacted.

Every line carries `ts` (RFC 3339, UTC), `level`, `event`, `logger`, the request's
`request_id`, `trace_id` and `span_id` when there is one, and the event's own fields
(`_log.info("user registered", extra={"user_id": ...})`). Correlation comes from the
request context set once at the HTTP edge (platform/request_context.py), so no code passes
ids around by hand.

The standard library's logging is kept (docs/adr/0011-observability-stack.md): every library
already logs through it, and with one msgspec-encoding formatter a line costs a few
microseconds; nothing is formatted for a record below the level or sampled out.
"""

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import msgspec

from order_service.platform.request_context import current_request
from order_service.platform.tracing import current_span_context

ACCESS_LOGGER = "order_service.access"
REDACTED = "[redacted]"
# Field names whose values are secrets wherever they appear, nested ones included.
_SECRET_KEYS = re.compile(
    r"(?i)(authorization|cookie|passw|secret|token|api[_-]?key|private[_-]?key|credential|jwt"
    r"|signature|session)"
)
# Secrets that may hide inside free text: bearer tokens, JWTs, PEM blocks, URL passwords.
_SECRET_TEXT = re.compile(
    r"(?i)bearer\s+[a-z0-9._~+/=-]+"
    r"|eyJ[a-zA-Z0-9_-]{8,}\.[a-zA-Z0-9_-]{8,}\.[a-zA-Z0-9_-]*"
    r"|-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",
    re.DOTALL,
)

# Fields that JSON cannot carry (exceptions, paths, UUIDs) are logged by their str().
_encoder = msgspec.json.Encoder(enc_hook=str)
# LogRecord attributes that are plumbing, not the event's own fields.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
    "taskName",
}


def redact(value: Any, key: str = "") -> Any:  # noqa: ANN401 - any JSON-able field
    """`value` with secrets replaced: by its field name, then by patterns inside text."""
    if key and _names_secret(key):
        return REDACTED
    if isinstance(value, str):
        return _SECRET_TEXT.sub(REDACTED, value) if _might_hold_secret(value) else value
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    return value


# Field names come from code, so a handful recur on every line: each is matched once.
_secret_names: dict[str, bool] = {}


def _names_secret(key: str) -> bool:
    known = _secret_names.get(key)
    if known is None:
        if len(_secret_names) >= 10_000:
            _secret_names.clear()  # bounded, should a caller make up field names
        known = _secret_names[key] = _SECRET_KEYS.search(key) is not None
    return known


def _might_hold_secret(text: str) -> bool:
    # A cheap pre-check keeps the regex off the common line.
    return "eyJ" in text or "earer" in text or "-----BEGIN" in text or "://" in text


def rfc3339(created: float) -> str:
    seconds = int(created)
    micros = int((created - seconds) * 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def log_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The line as a dict: standard fields, correlation, the event's own fields, redacted."""
    entry: dict[str, Any] = {
        "ts": rfc3339(record.created),
        "level": record.levelname.lower(),
        "event": redact(record.getMessage()),
        "logger": record.name,
        "pid": record.process,
    }
    request = current_request.get()
    if request is not None:
        entry["request_id"] = request.request_id
    span = current_span_context()
    if span is not None:
        entry["trace_id"] = format(span.trace_id, "032x")
        entry["span_id"] = format(span.span_id, "016x")
    for key, value in vars(record).items():
        if key not in _RESERVED:
            entry[key] = redact(value, key)
    return entry


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = log_fields(record)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return _encoder.encode(entry).decode()


class ConsoleFormatter(logging.Formatter):
    """For a person at a terminal: `ts level logger event key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = log_fields(record)
        head = f"{entry.pop('ts')} {entry.pop('level'):<7} {entry.pop('logger')}: "
        line = head + str(entry.pop("event"))
        if entry:
            line += "  " + " ".join(f"{k}={v}" for k, v in entry.items())
        if record.exc_info:
            line += "\n" + str(redact(self.formatException(record.exc_info)))
        return line


class RepeatSampler(logging.Filter):
    """Let through the first `burst` lines of one event per `window` seconds, then drop them.

    An event is its logger and message template (not the formatted text), so a storm of the
    same warning with different ids is one event. The first line after a window with drops
    carries `suppressed`, the number dropped. The access log is sampled at the edge instead.
    """

    def __init__(self, *, burst: int = 20, window: float = 10.0, max_events: int = 10_000) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._max_events = max_events
        self._seen: dict[tuple[str, object], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER:
            return True
        key = (record.name, record.msg)
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= self._max_events:
                self._seen.clear()  # bounded memory; at worst a few extra lines get through
            self._seen[key] = [record.created, 1.0]
            return True
        started, count = seen
        if record.created - started >= self._window:
            if count > self._burst:
                record.suppressed = int(count - self._burst)
            seen[0], seen[1] = record.created, 1.0
            return True
        seen[1] = count + 1
        return count < self._burst


def configure_logging(level: str, *, stream: TextIO | None = None) -> None:
    """Route every logger, ours and the libraries', through one handler on stdout."""
    out = stream or sys.stdout
    # No line shows the caller's file, line, thread or process name, so the records need not
    # look them up (the stack walk alone is a tenth of a line's cost): the logging HOWTO's
    # "Optimization" switches.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(out)
    handler.setFormatter(ConsoleFormatter() if out.isatty() else JsonFormatter())
    handler.addFilter(RepeatSampler())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log is replaced by ours (one sampled line per request at the edge).
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
