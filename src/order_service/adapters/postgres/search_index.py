"""SearchIndex and SearchIndexer on PostgreSQL: tsvector + GIN, pg_trgm for typos (0202, 0204).

Every query holds a pool connection only inside `async with pool.acquire()`: when the task is
cancelled (its deadline, a failed sibling in strict mode, the client gone), asyncpg sends the
server a cancel request and the connection goes back to the pool before the cancellation
propagates, so no query keeps running and no connection stays checked out.
"""

import asyncpg

from order_service.application.deadline import remaining
from order_service.domain.search import IndexName, SearchDocument, SearchHit, SearchQuery

# ts_rank's normalisation 32 maps rank to rank/(rank+1), in [0, 1) like the SQLite adapter's;
# a title close to the query (trigram word similarity) lifts the score to at most 0.5.
# Every term must match as a prefix of a lexeme (`exact`). Only when that does not fill the
# page are typos looked for (`fuzzy`): each term then matches exactly or by word similarity to
# the title ("lovelase"). The one-time filter skips the trigram scan entirely otherwise, which
# matters when many titles share trigrams. Both branches are GIN probes: of the orders' own
# partial indexes, or of the others' indexes led by `kind` (0204). `{kind}` is the index's name
# as a literal, not a parameter, so that a cached generic plan still matches a partial index.
_SEARCH = """
WITH q AS (SELECT to_tsquery('simple', $1) AS query),
exact AS (
    SELECT d.id, d.title,
           greatest(ts_rank(d.document, q.query, 32), public.word_similarity($2, d.title) * 0.5)
               AS score
    FROM search_documents AS d, q
    WHERE d.kind = {kind} AND d.document @@ q.query
    ORDER BY score DESC, d.id
    LIMIT $3
),
fuzzy AS (
    SELECT d.id, d.title, public.word_similarity($2, d.title) * 0.5 AS score
    FROM search_documents AS d, q
    WHERE (SELECT count(*) FROM exact) < $3
      AND d.kind = {kind}
      AND $2 OPERATOR(public.<%) d.title
      AND NOT d.document @@ q.query
      AND NOT EXISTS (
          SELECT 1 FROM unnest($4::text[]) AS t(term)
          WHERE NOT (d.document @@ to_tsquery('simple', quote_literal(t.term) || ':*')
                     OR t.term OPERATOR(public.<%) d.title)
      )
)
SELECT id, title, score FROM exact
UNION ALL
SELECT id, title, score FROM fuzzy
ORDER BY score DESC, id
LIMIT $3
"""
_PUT = """
INSERT INTO search_documents (kind, id, owner, title, body) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (kind, id) DO UPDATE SET
    owner = excluded.owner, title = excluded.title, body = excluded.body
"""
_REMOVE = "DELETE FROM search_documents WHERE kind = $1 AND id = $2"


def tsquery_text(query: SearchQuery) -> str:
    """Every term as a quoted prefix: `'ada':* & 'love':*`.

    Terms are letters and digits only (domain.search.parse_query), so no quote, operator
    (`|`, `!`, `<->`) or weight can be formed; the text is passed as a parameter anyway.
    """
    return " & ".join(f"'{term}':*" for term in query.terms)


class PostgresSearchIndex:
    def __init__(self, pool: asyncpg.Pool, index: IndexName, *, timeout: float) -> None:
        self._pool = pool
        self._index = index
        self._timeout = timeout
        # An IndexName value (lower-case letters), never user input.
        self._search = _SEARCH.format(kind=f"'{index.value}'")

    async def search(self, query: SearchQuery, limit: int) -> list[SearchHit]:
        async with self._pool.acquire(timeout=remaining(self._timeout)) as connection:
            rows = await connection.fetch(
                self._search,
                tsquery_text(query),
                " ".join(query.terms),
                limit,
                list(query.terms),
                timeout=remaining(self._timeout),
            )
        return [
            SearchHit(index=self._index, id=doc_id, title=title, score=float(score))
            for doc_id, title, score in rows
        ]


class PostgresSearchIndexer:
    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout

    async def put(self, document: SearchDocument) -> None:
        await self._pool.execute(
            _PUT,
            document.index.value,
            document.id,
            document.owner,
            document.title,
            document.body,
            timeout=remaining(self._timeout),
        )

    async def remove(self, index: IndexName, document_id: str) -> None:
        await self._pool.execute(
            _REMOVE, index.value, document_id, timeout=remaining(self._timeout)
        )
