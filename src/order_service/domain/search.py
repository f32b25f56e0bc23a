"""Search across indices: what a query may contain, what an index holds, how hits are merged.

A query is reduced to plain word terms here, before any index sees it, so full-text operators,
quotes and SQL fragments in the raw text can never reach a query language.
"""

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from order_service.domain.errors import InvalidInput, Unavailable

MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# Long enough for an email or a SKU, short enough that one term cannot make a huge index scan.
MAX_TERM_LENGTH = 64

# Letters and digits only: underscores and punctuation split terms, as both stores' tokenizers do.
# Terms are lower()ed, not casefold()ed: the tokenizers lower-case, and casefold turns ß into ss.
_TERM = re.compile(r"[^\W_]+")


class IndexName(StrEnum):
    USERS = "users"
    ORDERS = "orders"
    PRODUCTS = "products"


class SearchMode(StrEnum):
    """`strict`: any failing index fails the search. `partial`: the others' hits are returned."""

    STRICT = "strict"
    PARTIAL = "partial"


class IndexOutcome(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    ERROR = "error"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The caller's text and the lower-case word terms every index matches (all, as prefixes)."""

    text: str
    terms: tuple[str, ...]


def parse_query(raw: str) -> SearchQuery:
    """A query of 1..MAX_TERMS word terms, or InvalidInput naming what is wrong with `q`."""
    text = raw.strip()
    if not text:
        raise InvalidInput("q", "the query must not be empty")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInput("q", f"the query must be at most {MAX_QUERY_LENGTH} characters")
    terms = tuple(dict.fromkeys(term.lower()[:MAX_TERM_LENGTH] for term in _TERM.findall(text)))
    if not terms:
        raise InvalidInput("q", "the query must contain at least one letter or digit")
    if len(terms) > MAX_TERMS:
        raise InvalidInput("q", f"the query may have at most {MAX_TERMS} words")
    return SearchQuery(text=text, terms=terms)


def parse_indices(raw: str | None) -> tuple[IndexName, ...]:
    """Comma-separated index names; none (empty) means every index served. Unknown: InvalidInput."""
    if raw is None or not raw.strip():
        return ()
    names: dict[IndexName, None] = {}
    for part in raw.split(","):
        name = part.strip().lower()
        try:
            names[IndexName(name)] = None
        except ValueError:
            known = ", ".join(IndexName)
            shown = name[:40]
            raise InvalidInput("indices", f"unknown index {shown!r}; known: {known}") from None
    return tuple(names)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"limit must be between 1 and {MAX_LIMIT}")
    return limit


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """What an index holds of one user, order or product; `owner` is the user it belongs to."""

    index: IndexName
    id: str
    title: str
    body: str
    owner: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One match. `score` is in [0, 1), higher is better, comparable across indices."""

    index: IndexName
    id: str
    title: str
    score: float


@dataclass(frozen=True, slots=True)
class IndexStatus:
    index: IndexName
    outcome: IndexOutcome
    hits: int
    duration_ms: float
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class SearchResults:
    hits: tuple[SearchHit, ...]
    statuses: tuple[IndexStatus, ...]

    @property
    def partial(self) -> bool:
        """True when an index did not answer, so hits may be missing."""
        return any(status.outcome is not IndexOutcome.OK for status in self.statuses)


class SearchIndexFailed(Unavailable):
    """In strict mode, one index failed; the search as a whole fails and is safe to retry."""

    def __init__(self, status: IndexStatus) -> None:
        reason = status.outcome.value + (f" ({status.detail})" if status.detail else "")
        super().__init__(f"index {status.index.value!r} failed: {reason}", retry_after=1.0)
        self.status = status


def merge_hits(per_index: Iterable[Sequence[SearchHit]], limit: int) -> tuple[SearchHit, ...]:
    """The best `limit` hits of all indices: by score, then index and id so ties are stable."""
    everything = [hit for hits in per_index for hit in hits]
    everything.sort(key=lambda hit: (-hit.score, hit.index, hit.id))
    return tuple(everything[:limit])


def rank_to_score(rank: float) -> float:
    """Map an unbounded relevance (ts_rank, -bm25) into [0, 1), the same way for every store."""
    positive = max(rank, 0.0)
    return positive / (positive + 1.0)


def user_document(*, user_id: uuid.UUID, email: str, name: str) -> SearchDocument:
    # The email's parts are indexed too, so "example" finds ada@example.com.
    parts = " ".join(_TERM.findall(email))
    return SearchDocument(
        index=IndexName.USERS, id=str(user_id), title=name, body=f"{email} {parts}", owner=user_id
    )


def order_document(
    *, order_id: uuid.UUID, customer_id: uuid.UUID, title: str, details: str
) -> SearchDocument:
    """The order index's document; `title` is what an operator sees in the hit list."""
    return SearchDocument(
        index=IndexName.ORDERS,
        id=str(order_id),
        title=title,
        body=f"{order_id} {details}",
        owner=customer_id,
    )
