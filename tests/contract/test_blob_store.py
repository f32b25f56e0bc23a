"""One BlobStore contract, run against the in-memory fake, the filesystem and S3 (moto server)."""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from order_service.adapters.blobs.filesystem import FilesystemBlobStore
from order_service.adapters.blobs.s3 import S3BlobStore
from order_service.application.images import BlobStore
from tests.conftest import unavailable
from tests.fakes.images import InMemoryBlobStore
from tests.service_process import free_port


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3-compatible server on a free loopback port, for this test session."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(endpoint, timeout=1.0)
                break
            except httpx.TransportError as error:
                if time.monotonic() > deadline or process.poll() is not None:
                    unavailable(f"moto server ({log.read_text()[-500:]})", error)
                time.sleep(0.05)  # waiting for a port to open, not synchronising tests
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_store(endpoint: str) -> S3BlobStore:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    httpx.put(f"{endpoint}/{bucket}", timeout=5.0).raise_for_status()
    return S3BlobStore(
        bucket=bucket,
        endpoint=endpoint,
        access_key_id="test",
        secret_access_key="test",
        prefix="blobs",
    )


@pytest.fixture(params=["memory", "filesystem", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "memory":
        yield InMemoryBlobStore()
    elif request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path / "blobs")
    else:
        yield s3_store(request.getfixturevalue("s3_endpoint"))


async def test_a_put_blob_reads_back_byte_for_byte(store: BlobStore) -> None:
    data = os.urandom(300_000)
    await store.put("originals/ab/abc", data)
    assert await store.get("originals/ab/abc") == data
    assert await store.exists("originals/ab/abc")


async def test_a_missing_blob_reads_as_none(store: BlobStore) -> None:
    assert await store.get("variants/none") is None
    assert not await store.exists("variants/none")


async def test_put_replaces_and_is_idempotent(store: BlobStore) -> None:
    await store.put("meta/k.json", b"one")
    await store.put("meta/k.json", b"two")
    await store.put("meta/k.json", b"two")
    assert await store.get("meta/k.json") == b"two"


async def test_delete_removes_and_deleting_twice_is_fine(store: BlobStore) -> None:
    await store.put("variants/x/y.jpeg", b"data")
    await store.delete("variants/x/y.jpeg")
    await store.delete("variants/x/y.jpeg")
    assert await store.get("variants/x/y.jpeg") is None


async def test_an_empty_blob_is_a_blob(store: BlobStore) -> None:
    await store.put("empty", b"")
    assert await store.get("empty") == b""
    assert await store.exists("empty")


async def test_concurrent_writers_of_one_key_leave_one_whole_value(store: BlobStore) -> None:
    values = [bytes([index]) * 100_000 for index in range(8)]
    async with asyncio.TaskGroup() as group:
        for value in values:
            group.create_task(store.put("race", value))
    assert await store.get("race") in values


async def test_filesystem_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.put("a/b/c", b"data")
    files = await asyncio.to_thread(lambda: [p.name for p in tmp_path.rglob("*") if p.is_file()])
    assert files == ["c"]


async def test_filesystem_store_refuses_keys_that_escape_its_root(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "root")
    for key in ("../outside", "a/../../b", "/etc/passwd", "A/UPPER", ""):
        with pytest.raises(ValueError, match="invalid blob key"):
            await store.put(key, b"x")


async def test_a_blob_put_without_durability_reads_back_whole(store: BlobStore) -> None:
    data = os.urandom(50_000)
    await store.put("variants/ab/v.jpeg", data, durable=False)
    await store.put("variants/ab/v.jpeg", data, durable=False)
    assert await store.get("variants/ab/v.jpeg") == data


async def test_a_local_path_if_any_holds_the_blob_bytes(store: BlobStore) -> None:
    await store.put("originals/ab/abd", b"original bytes")
    path = store.local_path("originals/ab/abd")
    if path is not None:  # only stores that keep blobs as local files give one
        assert await asyncio.to_thread(path.read_bytes) == b"original bytes"


async def test_the_filesystem_store_gives_workers_a_path_inside_its_root(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    assert store.local_path("originals/ab/abc") == tmp_path / "originals" / "ab" / "abc"
    with pytest.raises(ValueError, match="invalid blob key"):
        store.local_path("../outside")
