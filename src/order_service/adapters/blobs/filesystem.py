"""The BlobStore port on a local directory (the embedded default, `./var/blobs`).

A write goes to a temporary file in the target's directory, is fsynced, then renamed over the
key, and the directory is fsynced: a reader (or a crash) sees the whole blob or none of it.
A write with `durable=False` (rendered variants) skips both fsyncs: readers still see all or
nothing (the rename is atomic), but a power loss may leave the blob empty or cut short, which
the thumbnailer detects and renders again. Render workers read originals through `local_path`.
File I/O runs in worker threads so the event loop never waits on the disk.
"""

import asyncio
import os
import re
import uuid
from pathlib import Path

_KEY = re.compile(r"^[0-9a-z._-]+(/[0-9a-z._-]+)*$")


def _checked(key: str) -> str:
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        return self._root / _checked(key)

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        await asyncio.to_thread(self._put, self._path(key), data, durable)

    def local_path(self, key: str) -> Path:
        return self._path(key)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, self._path(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    @staticmethod
    def _get(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _put(path: Path, data: bytes, durable: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with temporary.open("wb") as file:
                file.write(data)
                if durable:
                    file.flush()
                    os.fsync(file.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        if not durable:
            return
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # make the rename itself durable
        finally:
            os.close(directory)
