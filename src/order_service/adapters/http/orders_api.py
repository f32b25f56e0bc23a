"""HTTP routes of the order router: place, read, list and retry orders."""

import uuid
from collections.abc import Callable

from order_service.adapters.http.app import (
    HeaderParameter,
    QueryParameter,
    Request,
    Response,
    Route,
    json_response,
)
from order_service.adapters.http.order_schemas import OrderOut, OrderPageOut, PlaceOrder
from order_service.adapters.http.problems import HttpProblem
from order_service.application.orders import MAX_IDEMPOTENCY_KEY_LENGTH, MAX_PAGE, Orders
from order_service.domain.orders import LineItem, OrderStatus
from order_service.platform.tracing import current_traceparent

_BODY_PROBLEMS = (400, 413, 415, 422)
_AUTH_PROBLEMS = (401, 403)
_DEFAULT_PAGE = 20
_LIST_QUERY = (
    QueryParameter(
        "status",
        "Only orders in this status.",
        {"type": "string", "enum": [s.value for s in OrderStatus]},
    ),
    QueryParameter(
        "limit",
        "Orders per page.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": _DEFAULT_PAGE},
    ),
    QueryParameter(
        "cursor",
        "The next_cursor of the previous page.",
        {"type": "string", "format": "uuid"},
    ),
)

_PLACE_HEADERS = (
    HeaderParameter(
        "Idempotency-Key",
        "Your unique key for this order: a retry with the same key and body returns the "
        "original order (202, Idempotent-Replayed: true); the same key with another body is a 422.",
        {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
        required=True,
    ),
)


def order_routes(orders: Orders, *, on_accepted: Callable[[], None] = lambda: None) -> list[Route]:
    """`on_accepted` is told when a new order was written (an in-process dispatcher wakes up)."""

    async def place(request: Request) -> Response:
        raw_key = request.header(b"idempotency-key")
        if raw_key is None:
            raise HttpProblem(
                400, "missing-idempotency-key", "send an Idempotency-Key header with the order"
            )
        body: PlaceOrder = request.payload
        placed = await orders.place_order(
            request.authenticated,
            idempotency_key=raw_key.decode("latin-1"),
            items=[LineItem(item.sku, item.quantity) for item in body.items],
            region=body.region,
            trace_context=current_traceparent(),
        )
        if not placed.replayed:
            on_accepted()
        headers = [(b"location", f"/v1/orders/{placed.order.id}".encode())]
        if placed.replayed:
            headers.append((b"idempotent-replayed", b"true"))
        return json_response(OrderOut.of(placed.order), 202, headers)

    async def get_order(request: Request) -> Response:
        order = await orders.get_order(request.authenticated, _order_id(request))
        return json_response(OrderOut.of(order))

    async def list_orders(request: Request) -> Response:
        query = request.query()
        status = _one(query, "status")
        limit = _one(query, "limit")
        cursor = _one(query, "cursor")
        try:
            parsed_status = OrderStatus(status) if status else None
        except ValueError:
            allowed = ", ".join(s.value for s in OrderStatus)
            raise HttpProblem(400, "bad-status", f"status must be one of {allowed}") from None
        if limit is not None and not limit.isdigit():
            raise HttpProblem(400, "bad-limit", "limit must be a positive integer")
        try:
            parsed_cursor = uuid.UUID(cursor) if cursor else None
        except ValueError:
            raise HttpProblem(400, "bad-cursor", "cursor must come from next_cursor") from None
        page = await orders.list_orders(
            request.authenticated,
            status=parsed_status,
            limit=int(limit) if limit else _DEFAULT_PAGE,
            cursor=parsed_cursor,
        )
        next_cursor = str(page.next_cursor) if page.next_cursor else None
        return json_response(
            OrderPageOut(items=[OrderOut.of(o) for o in page.orders], next_cursor=next_cursor)
        )

    async def retry(request: Request) -> Response:
        order = await orders.retry_order(request.authenticated, _order_id(request))
        on_accepted()
        return json_response(OrderOut.of(order), 202)

    return [
        Route(
            "POST",
            "/v1/orders",
            place,
            "placeOrder",
            "Place an order (Idempotency-Key header required); it is routed and dispatched "
            "asynchronously",
            "orders",
            body=PlaceOrder,
            responses={202: OrderOut},
            problems=(*_BODY_PROBLEMS, *_AUTH_PROBLEMS, 409, 503),
            authenticated=True,
            headers=_PLACE_HEADERS,
        ),
        Route(
            "GET",
            "/v1/orders",
            list_orders,
            "listOrders",
            "List orders, newest first (a customer sees its own; an admin all)",
            "orders",
            responses={200: OrderPageOut},
            problems=(400, *_AUTH_PROBLEMS, 422),
            authenticated=True,
            query=_LIST_QUERY,
        ),
        Route(
            "GET",
            "/v1/orders/{id}",
            get_order,
            "getOrder",
            "Read an order (its owner or an admin)",
            "orders",
            responses={200: OrderOut},
            problems=(400, *_AUTH_PROBLEMS, 404),
            authenticated=True,
        ),
        Route(
            "POST",
            "/v1/orders/{id}/retry",
            retry,
            "retryOrder",
            "Send a failed order through routing and dispatch again (admin)",
            "orders",
            responses={202: OrderOut},
            problems=(400, *_AUTH_PROBLEMS, 404, 409),
            authenticated=True,
        ),
    ]


def _order_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.path_params["id"])
    except ValueError:
        raise HttpProblem(400, "bad-id", "the order id must be a UUID") from None


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None
