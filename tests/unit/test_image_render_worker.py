"""The render worker's own I/O: writing a variant atomically, and its reply framing."""

import socket
import stat
from pathlib import Path

import pytest

from order_service.adapters.images import render_worker


def test_a_variant_is_written_with_its_directories_and_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "variants" / "ab" / "64x64-contain-q80.jpeg"
    render_worker.write_atomically(str(target), b"\xff\xd8 bytes \xff\xd9")
    assert target.read_bytes() == b"\xff\xd8 bytes \xff\xd9"
    # Readable as any file the store writes: open()'s mode, less the umask.
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert [entry.name for entry in target.parent.iterdir()] == [target.name]


def test_a_variant_already_there_is_replaced_whole(tmp_path: Path) -> None:
    # A variant torn by a crash is rendered again and must be overwritten, not kept.
    target = tmp_path / "v.jpeg"
    target.write_bytes(b"\xff\xd8 cut sh")
    render_worker.write_atomically(str(target), b"\xff\xd8 rendered again \xff\xd9")
    assert target.read_bytes() == b"\xff\xd8 rendered again \xff\xd9"
    assert [entry.name for entry in tmp_path.iterdir()] == [target.name]


def test_without_unnamed_files_a_temporary_is_renamed_over_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsupported(directory: str) -> int:
        raise OSError(95, "O_TMPFILE not supported", directory)

    monkeypatch.setattr(render_worker, "_unnamed_file", unsupported)
    target = tmp_path / "deeper" / "v.png"
    render_worker.write_atomically(str(target), b"png bytes")
    assert target.read_bytes() == b"png bytes"
    assert [entry.name for entry in target.parent.iterdir()] == [target.name]


def test_a_reply_is_sent_whole_in_one_message() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        reply = bytes([render_worker.OK]) + b"x" * 100_000
        render_worker._send_all(theirs, [render_worker.LENGTH.pack(len(reply)), reply])
        theirs.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := ours.recv(1 << 20):
            received += chunk
    assert received == render_worker.LENGTH.pack(len(reply)) + reply
