"""FulfilmentProvider over HTTP (httpx): one POST per attempt, bounded by the provider's timeout.

The wire contract (the simulator implements it): `POST {endpoint}/orders` with an
`Idempotency-Key` header and a JSON body; 2xx with `{"reference": ...}` confirms; 429 and 503
mean "not applied, come back after Retry-After"; other 4xx are permanent; other 5xx and
timeouts leave the effect unknown.
"""

import asyncio
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from order_service.application.order_ports import Delivery, Outcome
from order_service.domain.orders import Order
from order_service.domain.providers import Provider

_MAX_RETRY_AFTER = 300.0


class HttpFulfilmentProvider:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def submit(self, provider: Provider, order: Order) -> Delivery:
        body = {
            "order_id": str(order.id),
            "region": order.region,
            "items": [{"sku": item.sku, "quantity": item.quantity} for item in order.items],
        }
        limit = provider.timeout_seconds
        try:
            # asyncio.timeout bounds the whole attempt; httpx's timeout bounds each phase.
            async with asyncio.timeout(limit):
                response = await self._client.post(
                    f"{provider.endpoint}/orders",
                    json=body,
                    headers={"idempotency-key": order.delivery_key},
                    timeout=limit,
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            # No connection was made, so nothing was sent.
            return Delivery(Outcome.NOT_APPLIED, f"cannot connect: {type(error).__name__}")
        except (TimeoutError, httpx.TimeoutException):
            return Delivery(Outcome.UNKNOWN, f"no answer within {limit:g}s")
        except httpx.HTTPError as error:
            return Delivery(Outcome.UNKNOWN, f"transport error: {type(error).__name__}")
        return _classify(response)


def _classify(response: httpx.Response) -> Delivery:
    status = response.status_code
    if 200 <= status < 300:
        try:
            reference = str(response.json()["reference"])
        except (ValueError, KeyError, TypeError):
            return Delivery(Outcome.UNKNOWN, f"HTTP {status} without a reference")
        return Delivery(Outcome.CONFIRMED, f"HTTP {status}", provider_ref=reference)
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if status == 429:
        return Delivery(Outcome.THROTTLED, "HTTP 429", retry_after=retry_after)
    if status == 503:
        return Delivery(Outcome.NOT_APPLIED, "HTTP 503", retry_after=retry_after)
    if 400 <= status < 500:
        return Delivery(Outcome.REJECTED, f"HTTP {status}: {response.text[:200]}")
    return Delivery(Outcome.UNKNOWN, f"HTTP {status}", retry_after=retry_after)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date), capped; None if absent."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
