"""Search everywhere: one admin query fanned out to every index under one TaskGroup.

The errgroup pattern of Go, with asyncio: one task per index, owned by the request. Each index
call is bounded by its own timeout and by the request's remaining deadline; in strict mode the
first failure cancels the siblings, in partial mode a failure is reported beside the others'
hits. When the request is cancelled (deadline, client gone), every index call is cancelled with
it, and the TaskGroup does not return until all of them have finished.
"""

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from order_service.application.deadline import DeadlineExceeded, remaining
from order_service.application.ports import Principal
from order_service.domain.errors import Forbidden, InvalidInput
from order_service.domain.search import (
    IndexName,
    IndexOutcome,
    IndexStatus,
    SearchDocument,
    SearchHit,
    SearchIndexFailed,
    SearchMode,
    SearchQuery,
    SearchResults,
    check_limit,
    merge_hits,
    parse_query,
)

_log = logging.getLogger(__name__)


class SearchIndex(Protocol):
    """One index's ranked lookup, e.g. the products in PostgreSQL.

    Returns at most `limit` hits, best first, each of this index. Must be cancellable: when the
    awaiting task is cancelled, the query is abandoned and any connection it held is released
    before the cancellation finishes propagating.
    """

    async def search(self, query: SearchQuery, limit: int) -> Sequence[SearchHit]: ...


class SearchIndexer(Protocol):
    """Keeps the indices current; use cases call it after they write a user, order or product.

    `put` inserts or replaces the document with the same (index, id); `remove` is a no-op when
    there is no such document.
    """

    async def put(self, document: SearchDocument) -> None: ...

    async def remove(self, index: IndexName, document_id: str) -> None: ...


class SearchObserver(Protocol):
    """Telemetry of index queries: a span around each, and its outcome and latency."""

    def span(self, index: IndexName) -> AbstractContextManager[object]: ...

    def observe(self, index: IndexName, outcome: IndexOutcome, seconds: float) -> None: ...


async def index_quietly(indexer: SearchIndexer | None, document: SearchDocument) -> None:
    """Index a document after its source row was written; a failure is logged, not raised.

    The write the caller made has succeeded and must not be reported as failed because the
    index lags; `order-service reindex` rebuilds the users and products indices.
    """
    if indexer is None:
        return
    try:
        await indexer.put(document)
    except Exception:  # noqa: BLE001 - indexing is best effort; the source write stands
        _log.warning(
            "search indexing failed",
            exc_info=True,
            extra={"index": document.index.value, "document_id": document.id},
        )


class _IndexFailed(Exception):
    """Raised inside the TaskGroup in strict mode, so that the group cancels the siblings."""

    def __init__(self, status: IndexStatus) -> None:
        super().__init__(status.index.value)
        self.status = status


class SearchEverywhere:
    """The admin search across the users, orders and products indices."""

    def __init__(
        self,
        *,
        indices: Mapping[IndexName, SearchIndex],
        index_timeout: float,
        observer: SearchObserver,
        reserve: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`reserve` seconds of the request's budget are kept for merging and answering, so a
        slow index times out (and the others' hits are returned) before the request does."""
        self._indices = dict(indices)
        self._index_timeout = index_timeout
        self._observer = observer
        self._reserve = reserve
        self._clock = clock

    @property
    def index_names(self) -> tuple[IndexName, ...]:
        return tuple(self._indices)

    async def search(
        self,
        principal: Principal,
        *,
        text: str,
        indices: Sequence[IndexName] = (),
        limit: int,
        mode: SearchMode = SearchMode.PARTIAL,
    ) -> SearchResults:
        """Ranked hits of every asked index (all when none is named), merged into one list.

        Forbidden for non-admins; InvalidInput for a bad query, limit or index; in strict mode
        SearchIndexFailed (a 503) as soon as one index fails, with the others cancelled.
        """
        if not principal.is_admin:
            raise Forbidden("search is for admins")
        query = parse_query(text)
        check_limit(limit)
        names = tuple(dict.fromkeys(indices)) or self.index_names
        for name in names:
            if name not in self._indices:
                raise InvalidInput("indices", f"index {name.value!r} is not served here")
        budget = self._budget()
        strict = mode is SearchMode.STRICT
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(
                        self._query_one(name, query, limit, budget, strict=strict),
                        name=f"search:{name.value}",
                    )
                    for name in names
                ]
        except* _IndexFailed as failed:
            first = failed.exceptions[0]
            assert isinstance(first, _IndexFailed)  # noqa: S101 - narrowed by except*
            raise SearchIndexFailed(first.status) from None
        answers = [task.result() for task in tasks]
        return SearchResults(
            hits=merge_hits((hits for _, hits in answers), limit),
            statuses=tuple(status for status, _ in answers),
        )

    def _budget(self) -> float:
        left = remaining(math.inf)
        if math.isinf(left):
            return self._index_timeout
        return min(self._index_timeout, max(left - self._reserve, left / 2))

    async def _query_one(
        self, name: IndexName, query: SearchQuery, limit: int, budget: float, *, strict: bool
    ) -> tuple[IndexStatus, Sequence[SearchHit]]:
        started = self._clock()
        outcome = IndexOutcome.ERROR
        detail: str | None = None
        hits: Sequence[SearchHit] = ()
        with self._observer.span(name):
            try:
                async with asyncio.timeout(budget):
                    hits = await self._indices[name].search(query, limit)
                outcome = IndexOutcome.OK
            except (TimeoutError, DeadlineExceeded):
                outcome = IndexOutcome.TIMEOUT
                detail = f"no answer within {budget:.3g}s"
            except asyncio.CancelledError:
                outcome = IndexOutcome.CANCELLED
                raise
            except Exception as error:  # noqa: BLE001 - one index's fault is reported, not raised
                _log.warning("search index failed", exc_info=True, extra={"index": name.value})
                detail = type(error).__name__
            finally:
                elapsed = self._clock() - started
                self._observer.observe(name, outcome, elapsed)
        status = IndexStatus(
            index=name,
            outcome=outcome,
            hits=len(hits),
            duration_ms=round(elapsed * 1000, 3),
            detail=detail,
        )
        if strict and outcome is not IndexOutcome.OK:
            raise _IndexFailed(status)
        return status, hits[:limit]
