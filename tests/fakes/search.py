"""In-memory fakes of the search ports, and index doubles that hang or fail on purpose."""

import asyncio
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from order_service.domain.products import Product, ProductAlreadyExists
from order_service.domain.search import (
    IndexName,
    IndexOutcome,
    SearchDocument,
    SearchHit,
    SearchQuery,
    rank_to_score,
)

_WORD = re.compile(r"[^\W_]+")


class InMemorySearchStore:
    """Documents of every index; `index(name)` is that index's SearchIndex."""

    def __init__(self) -> None:
        self.documents: dict[tuple[IndexName, str], SearchDocument] = {}

    async def put(self, document: SearchDocument) -> None:
        self.documents[document.index, document.id] = document

    async def remove(self, index: IndexName, document_id: str) -> None:
        self.documents.pop((index, document_id), None)

    def index(self, name: IndexName) -> "InMemorySearchIndex":
        return InMemorySearchIndex(self, name)


class InMemorySearchIndex:
    """Every term must prefix a word; a title word counts ten times a body word."""

    def __init__(self, store: InMemorySearchStore, name: IndexName) -> None:
        self._store = store
        self._name = name

    async def search(self, query: SearchQuery, limit: int) -> list[SearchHit]:
        scored: list[SearchHit] = []
        for (kind, doc_id), document in self._store.documents.items():
            if kind is not self._name:
                continue
            title = [word.lower() for word in _WORD.findall(document.title)]
            body = [word.lower() for word in _WORD.findall(document.body)]
            rank = 0.0
            for term in query.terms:
                in_title = sum(word.startswith(term) for word in title)
                in_body = sum(word.startswith(term) for word in body)
                if not in_title and not in_body:
                    break
                rank += 10 * in_title + in_body
            else:
                scored.append(SearchHit(kind, doc_id, document.title, rank_to_score(rank)))
        scored.sort(key=lambda hit: (-hit.score, hit.id))
        return scored[:limit]


class HangingSearchIndex:
    """Never answers; records that it started and that it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def search(self, query: SearchQuery, limit: int) -> Sequence[SearchHit]:  # noqa: ARG002 - the port's signature
        self.started.set()
        try:
            await asyncio.Future()  # never resolved
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


class FailingSearchIndex:
    """Fails once `release` is set (at once by default), as a broken index would."""

    def __init__(self, *, wait_for: asyncio.Event | None = None) -> None:
        self.release = wait_for

    async def search(self, query: SearchQuery, limit: int) -> Sequence[SearchHit]:  # noqa: ARG002 - the port's signature
        if self.release is not None:
            await self.release.wait()
        raise ConnectionResetError("index went away")


class RecordingObserver:
    """Records spans opened and closed and every (index, outcome)."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[IndexName, IndexOutcome]] = []
        self.open_spans: set[IndexName] = set()
        self.spans: list[IndexName] = []

    @contextmanager
    def span(self, index: IndexName) -> Iterator[object]:
        self.open_spans.add(index)
        self.spans.append(index)
        try:
            yield index
        finally:
            self.open_spans.discard(index)

    def observe(self, index: IndexName, outcome: IndexOutcome, seconds: float) -> None:
        assert seconds >= 0
        self.outcomes.append((index, outcome))

    def outcome_of(self, index: IndexName) -> IndexOutcome:
        found = [outcome for name, outcome in self.outcomes if name is index]
        assert len(found) == 1, f"{index}: {found}"
        return found[0]


class InMemoryProductRepository:
    def __init__(self) -> None:
        self.products: dict[str, Product] = {}

    async def get(self, sku: str) -> Product | None:
        return self.products.get(sku)

    async def add(self, product: Product) -> None:
        if product.sku in self.products:
            raise ProductAlreadyExists
        self.products[product.sku] = product

    async def set_image(self, sku: str, image_id: str | None) -> Product | None:
        product = self.products.get(sku)
        if product is None:
            return None
        self.products[sku] = product.with_image(image_id)
        return self.products[sku]
