"""The render worker: a process that runs codec functions sent by the server, one at a time.

The wire is a Unix socket pair, each message an 8-byte big-endian length and a payload. The
server sends a pickle of `(function, args)` (trusted: the server wrote it). The worker answers
with bytes that are never unpickled: a status byte, then the function's own bytes, or a
rejection's kind and message, or a failure's message. A hostile image that took over a worker
through a codec bug can therefore send the server only bytes that are parsed as data, never
objects to rebuild.

Codec functions run in a thread pool too (`ORDER_SERVICE_IMAGES_RENDER_POOL=thread`), so the
encoding of their results (`reply_for`, `encode_render`, `decode_render`, ...) is shared.
"""

import os
import pickle
import signal
import socket
import struct
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from order_service.adapters.images.codec_values import CodecRejection, RenderRequest, RenderResult
from order_service.domain.images import ImageFormat, looks_complete

LENGTH = struct.Struct("!Q")
OK, REJECTED, FAILED = 0, 1, 2
STATUSES = frozenset({OK, REJECTED, FAILED})
_PHASES = ("decode", "resize", "encode", "store")
_TIMES = struct.Struct("!8q")
# A render's reply starts with where its bytes came from: rendered now (phase times follow),
# or found already stored, complete, where they were to be written.
_RENDERED, _STORED = b"r", b"s"
_SIZE = struct.Struct("!II")
# _PILLOW: the codec functions import pillow_codec where they run. The forkserver preloads it
# for every worker process; the serving process, which imports this module for the wire
# format, never loads Pillow unless it renders in threads (codec_values, docs/images.md).


class WorkerFailed(Exception):
    """The function raised something other than a rejection: a bug, logged by the server."""


class MalformedReply(Exception):
    """A worker's reply does not follow the format; the render fails (RenderFailed)."""


def reply_for(function: Callable[..., bytes], args: tuple[Any, ...]) -> bytes:
    """Run `function` and encode its outcome as a reply (in a worker process or a thread)."""
    try:
        return bytes([OK]) + function(*args)
    except CodecRejection as rejection:
        return bytes([REJECTED]) + f"{rejection.kind}\0{rejection.message}".encode()[:2000]
    except Exception as error:  # noqa: BLE001 - any codec bug becomes a FAILED reply, logged by the server
        return bytes([FAILED]) + f"{type(error).__name__}: {error}".encode()[:2000]


def open_reply(reply: bytes) -> bytes:
    """The function's bytes from an OK reply; raise CodecRejection, or RuntimeError if failed."""
    if not reply:
        raise MalformedReply("empty reply")
    status, body = reply[0], reply[1:]
    if status == OK:
        return body
    text = body.decode("utf-8", "replace")
    if status == REJECTED:
        kind, _, message = text.partition("\0")
        raise CodecRejection(kind, message)
    if status == FAILED:
        raise WorkerFailed(text)
    raise MalformedReply(f"unknown status {status}")


def encode_render(
    source: bytes | str,
    request: RenderRequest,
    max_pixels: int,
    store_at: str | None = None,
    reuse_stored: bool = False,  # noqa: FBT002 - positional: sent pickled, in a tuple
) -> bytes:
    """Render from the original's bytes or its local file; with `store_at`, also write the
    variant there (the filesystem store's file for it), atomically and without fsync, as
    FilesystemBlobStore.put(durable=False) would. With `reuse_stored`, a complete variant
    already at `store_at` is sent back instead of rendered (the lookup the server would
    otherwise make in a thread). Paths are plain strings: cheaper to pickle."""
    if reuse_stored and store_at is not None:
        stored = read_stored(store_at, ImageFormat(request.format))
        if stored is not None:
            return _STORED + stored
    from order_service.adapters.images import pillow_codec  # noqa: PLC0415 - see _PILLOW

    result = pillow_codec.render_timed(source, request, max_pixels)
    encoded = result.phases[-1][2]
    if store_at is not None:
        write_atomically(store_at, result.body)
    written = time.time_ns() if store_at is not None else encoded
    instants = [instant for _, start, end in result.phases for instant in (start, end)]
    return _RENDERED + _TIMES.pack(*instants, encoded, written) + result.body


def read_stored(path: str, fmt: ImageFormat) -> bytes | None:
    """The variant stored at `path` if it is there and complete; None if missing or torn (a
    variant is not fsynced, so a crash can cut it short: it is then rendered again)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        data = _read_all(fd)
    finally:
        os.close(fd)
    return data if looks_complete(data, fmt) else None


def _read_all(fd: int) -> bytes:
    """A file's bytes in one read of its size: a variant never changes once it has a name
    (a shorter read means it was cut short, which `looks_complete` then tells)."""
    chunks, left = [], os.fstat(fd).st_size
    while left > 0 and (chunk := os.read(fd, left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_atomically(path: str, data: bytes) -> None:
    """Write `path` so that readers see all of it or none.

    An unnamed file (O_TMPFILE) in the target's directory, linked under its name once written:
    one directory entry made instead of a temporary one renamed (about half the kernel time on
    ext4), and a worker killed mid-write leaves nothing behind. Where the filesystem has no
    O_TMPFILE, or the name is taken (a torn variant being replaced), a temporary file is
    renamed over it instead.
    """
    try:
        fd = _unnamed_file(os.path.dirname(path))  # noqa: PTH120 - a str path, per render
    except OSError:  # no O_TMPFILE on this filesystem (EOPNOTSUPP, EISDIR)
        _write_renamed(path, data)
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        try:
            # linkat(2) with AT_SYMLINK_FOLLOW through /proc names the unnamed file (open(2),
            # O_TMPFILE). os.link calls linkat, not link, only when given a directory fd; the
            # source is absolute, so which fd does not matter.
            os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd, follow_symlinks=True)
        except OSError:  # the name is taken (a torn variant), or /proc is not mounted
            _write_renamed(path, data)
    finally:
        os.close(fd)


def _unnamed_file(directory: str) -> int:
    try:
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o666)  # less the umask, as open()
    except FileNotFoundError:
        Path(directory).mkdir(parents=True, exist_ok=True)
        return os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o666)  # less the umask, as open()


def _write_renamed(path: str, data: bytes) -> None:
    """A temporary file beside `path`, renamed over it."""
    temporary = Path(path)
    temporary = temporary.with_name(f".{temporary.name}.{uuid.uuid4().hex}.tmp")
    temporary.parent.mkdir(parents=True, exist_ok=True)
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def decode_render(data: bytes) -> RenderResult:
    origin = data[:1]
    if origin == _STORED:
        return RenderResult(data[1:], (), stored=True)
    if origin != _RENDERED or len(data) < 1 + _TIMES.size:
        raise MalformedReply("render reply too short")
    times = _TIMES.unpack_from(data, 1)
    phases = tuple(
        (name, times[2 * index], times[2 * index + 1]) for index, name in enumerate(_PHASES)
    )
    return RenderResult(data[1 + _TIMES.size :], phases)


def encode_inspect(data: bytes, max_pixels: int) -> bytes:
    from order_service.adapters.images import pillow_codec  # noqa: PLC0415 - see _PILLOW

    fmt, width, height = pillow_codec.inspect_image(data, max_pixels)
    return _SIZE.pack(width, height) + fmt.encode()


def decode_inspect(data: bytes) -> tuple[str, int, int]:
    if len(data) < _SIZE.size:
        raise MalformedReply("inspect reply too short")
    width, height = _SIZE.unpack_from(data)
    return data[_SIZE.size :].decode("ascii", "replace"), width, height


def _read_exactly(stream: Any, size: int) -> bytes | None:  # noqa: ANN401 - a binary file object
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _send_all(connection: socket.socket, parts: list[bytes]) -> None:
    sent = connection.sendmsg(parts)
    rest = b"".join(parts)[sent:] if sent < sum(map(len, parts)) else b""
    if rest:
        connection.sendall(rest)


def serve(connection: socket.socket) -> None:
    """The worker's loop: one request, one reply, until the server closes its end."""
    # Ctrl-C reaches the whole process group; the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stream = connection.makefile("rb")
    while (header := _read_exactly(stream, LENGTH.size)) is not None:
        payload = _read_exactly(stream, LENGTH.unpack(header)[0])
        if payload is None:
            break
        function, args = pickle.loads(payload)  # noqa: S301 - written by the server, not a client
        reply = reply_for(function, args)
        # One message, so the server wakes once for it, not once for the length and again
        # for the rest.
        _send_all(connection, [LENGTH.pack(len(reply)), reply])
    os._exit(0)  # skip interpreter teardown: nothing to flush, and it cannot hang
