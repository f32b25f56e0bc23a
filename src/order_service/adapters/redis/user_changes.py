"""Saves of users announced over Redis pub/sub, so every process drops its in-process copy.

The in-process user cache (`adapters/memory/cached_user_repository.py`) is the hot path's
read; without this, a save made by another worker or replica is seen only when the entry
expires. With it, the saving process publishes the user's id after the store committed (and
after the shared Redis entry was rewritten), and every process, itself included, forgets its
copy within a round trip; the TTL is left as a safety net.

Pub/sub delivers at most once: a message sent while a subscriber was disconnected is lost. So
each (re)subscription first forgets every entry: whatever changed during the gap is read
again. Publishing failures are logged and otherwise ignored: the TTL bounds the staleness.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

_log = logging.getLogger(__name__)

CHANNEL = "order-service:user:v1:changed"


class RedisUserChanges:
    def __init__(
        self,
        redis: Redis,
        subscriber: Redis,
        *,
        channel: str = CHANNEL,
        reconnect_seconds: float = 1.0,
    ) -> None:
        """`redis` publishes (with the usual short timeouts); `subscriber` must have no socket
        read timeout, since a quiet subscription is not a fault."""
        self._redis = redis
        self._subscriber = subscriber
        self._channel = channel
        self._reconnect = reconnect_seconds

    async def publish(self, user_id: uuid.UUID) -> None:
        try:
            await self._redis.publish(self._channel, str(user_id))
        except RedisError as error:
            _log.warning(
                "user change not announced; other processes see it when their entry expires",
                extra={"error": str(error), "user_id": str(user_id)},
            )

    async def follow(self, changed: Callable[[uuid.UUID], None], lost: Callable[[], None]) -> None:
        """Call `changed` for every announced save and `lost` whenever announcements may have
        been missed (at each subscription); runs until cancelled."""
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                lost()
                async for message in pubsub.listen():
                    try:
                        changed(uuid.UUID(bytes(message["data"]).decode("ascii")))
                    except (UnicodeDecodeError, ValueError):
                        _log.warning("ignoring a malformed user change", extra={"data": message})
            except (RedisError, OSError) as error:
                _log.warning(
                    "user change subscription lost; resubscribing",
                    extra={"error": str(error), "retry_in_seconds": self._reconnect},
                )
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self._reconnect)
