"""The BlobStore port on an S3-compatible object store, through obstore (async, Rust core).

An S3 PUT is atomic by the protocol: a reader sees the previous object or the whole new one.
Every call is bounded by the request's remaining deadline.
"""

import asyncio
from typing import TYPE_CHECKING

import obstore
from obstore.store import S3Store

if TYPE_CHECKING:  # a typing-only name in obstore's stubs
    from obstore.store import S3Config

from order_service.application.deadline import remaining


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        config: S3Config = {"region": region}
        if endpoint:
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = False
        if access_key_id and secret_access_key:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        self._timeout = timeout
        self._store = S3Store(
            bucket,
            prefix=prefix,
            config=config,
            client_options={"allow_http": bool(endpoint and endpoint.startswith("http://"))},
        )

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None:  # noqa: ARG002 - S3 acknowledges a PUT only once it is stored durably
        async with asyncio.timeout(remaining(self._timeout)):
            await obstore.put_async(self._store, key, data)

    def local_path(self, key: str) -> None:  # noqa: ARG002 - objects are remote: workers get bytes
        return None

    async def get(self, key: str) -> bytes | None:
        async with asyncio.timeout(remaining(self._timeout)):
            try:
                result = await obstore.get_async(self._store, key)
            except FileNotFoundError:
                return None
            return bytes(await result.bytes_async())

    async def exists(self, key: str) -> bool:
        async with asyncio.timeout(remaining(self._timeout)):
            try:
                await obstore.head_async(self._store, key)
            except FileNotFoundError:
                return False
            return True

    async def delete(self, key: str) -> None:
        async with asyncio.timeout(remaining(self._timeout)):
            try:
                await obstore.delete_async(self._store, key)
            except FileNotFoundError:
                return
