"""HTTP route of the admin search: GET /v1/search?q=&indices=&limit=&mode=."""

import msgspec

from order_service.adapters.http.app import (
    QueryParameter,
    Request,
    Response,
    Route,
    json_response,
)
from order_service.adapters.http.problems import HttpProblem
from order_service.application.search import SearchEverywhere
from order_service.domain.errors import InvalidInput
from order_service.domain.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY_LENGTH,
    IndexName,
    SearchMode,
    SearchResults,
    parse_indices,
)

_PARAMETERS = (
    QueryParameter(
        "q",
        "Words to find; every word must match, as a prefix.",
        {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH},
        required=True,
    ),
    QueryParameter(
        "indices",
        "Comma-separated indices to ask; all when absent.",
        {"type": "string", "examples": [",".join(IndexName)]},
    ),
    QueryParameter(
        "limit",
        "How many hits to return, merged across indices.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    QueryParameter(
        "mode",
        "partial: a failed index is reported beside the others' hits; strict: it fails all.",
        {"type": "string", "enum": list(SearchMode), "default": SearchMode.PARTIAL.value},
    ),
)
_KNOWN_PARAMETERS = frozenset(parameter.name for parameter in _PARAMETERS)


class SearchHitOut(msgspec.Struct):
    index: str
    id: str
    title: str
    score: float


class IndexStatusOut(msgspec.Struct, omit_defaults=True):
    status: str
    hits: int
    duration_ms: float
    detail: str | None = None


class SearchOut(msgspec.Struct):
    query: str
    mode: str
    partial: bool
    hits: list[SearchHitOut]
    indices: dict[str, IndexStatusOut]

    @classmethod
    def of(cls, results: SearchResults, *, query: str, mode: SearchMode) -> "SearchOut":
        return cls(
            query=query,
            mode=mode.value,
            partial=results.partial,
            hits=[
                SearchHitOut(hit.index.value, hit.id, hit.title, hit.score) for hit in results.hits
            ],
            indices={
                status.index.value: IndexStatusOut(
                    status.outcome.value, status.hits, status.duration_ms, status.detail
                )
                for status in results.statuses
            },
        )


def _single(parameters: dict[str, list[str]], name: str) -> str | None:
    values = parameters.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise HttpProblem(400, "repeated-parameter", f"give the {name!r} parameter once")
    return values[0]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    # isdecimal() first: int() would also accept " 7", "+7", "7_0" and a 4,300-digit number.
    if not raw.isdecimal() or len(raw) > 4:
        raise InvalidInput("limit", "limit must be a whole number")
    return int(raw)


def _mode(raw: str | None) -> SearchMode:
    if raw is None or not raw:
        return SearchMode.PARTIAL
    try:
        return SearchMode(raw.lower())
    except ValueError:
        raise InvalidInput("mode", "mode must be 'partial' or 'strict'") from None


def search_routes(search: SearchEverywhere, *, timeout: float) -> list[Route]:
    async def search_everywhere(request: Request) -> Response:
        parameters = request.query()
        unknown = sorted(set(parameters) - _KNOWN_PARAMETERS)
        if unknown:
            shown = unknown[0][:40]
            raise HttpProblem(400, "unknown-parameter", f"unknown query parameter {shown!r}")
        text = _single(parameters, "q") or ""
        mode = _mode(_single(parameters, "mode"))
        results = await search.search(
            request.authenticated,
            text=text,
            indices=parse_indices(_single(parameters, "indices")),
            limit=_limit(_single(parameters, "limit")),
            mode=mode,
        )
        return json_response(
            SearchOut.of(results, query=text, mode=mode), headers=[(b"cache-control", b"no-store")]
        )

    return [
        Route(
            "GET",
            "/v1/search",
            search_everywhere,
            "searchEverywhere",
            "Search the users, orders and products indices at once (admins only)",
            "search",
            responses={200: SearchOut},
            problems=(400, 401, 403, 422, 503, 504),
            authenticated=True,
            timeout=timeout,
            cancel_on_disconnect=True,
            query=_PARAMETERS,
        )
    ]
