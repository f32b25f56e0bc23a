"""SearchIndex and SearchIndexer on SQLite FTS5 (the documents table and its triggers: 0202).

Queries run on aiosqlite's one thread: cancelling the awaiting task returns at once and the
statement's result is dropped when it finishes. FTS5 lookups are index probes bounded by
`limit`, so an abandoned one costs milliseconds; the connection is never interrupted, because
it is shared with every other request of the process.
"""

import aiosqlite

from order_service.domain.search import (
    IndexName,
    SearchDocument,
    SearchHit,
    SearchQuery,
    rank_to_score,
)

# Title matches weigh ten times body matches, as the A and B weights do on PostgreSQL.
_SEARCH = """
SELECT d.id, d.title, bm25(search_fts, 10.0, 1.0) AS rank
FROM search_fts JOIN search_documents AS d ON d.doc_rowid = search_fts.rowid
WHERE search_fts MATCH ? AND d.kind = ?
ORDER BY rank, d.id
LIMIT ?
"""
INDEX_DOCUMENT = """
INSERT INTO search_documents (kind, id, owner, title, body) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (kind, id) DO UPDATE SET
    owner = excluded.owner, title = excluded.title, body = excluded.body
"""
_REMOVE = "DELETE FROM search_documents WHERE kind = ? AND id = ?"


def fts5_match(query: SearchQuery) -> str:
    """Every term as a quoted prefix: `"ada"* "love"*` (implicit AND).

    Terms are letters and digits only (domain.search.parse_query), so the quotes cannot be
    closed early and no FTS5 operator (AND, NEAR, column:, ^) can be formed.
    """
    return " ".join(f'"{term}"*' for term in query.terms)


class SqliteSearchIndex:
    def __init__(self, connection: aiosqlite.Connection, index: IndexName) -> None:
        self._db = connection
        self._index = index

    async def search(self, query: SearchQuery, limit: int) -> list[SearchHit]:
        params = (fts5_match(query), self._index.value, limit)
        async with self._db.execute(_SEARCH, params) as cursor:
            rows = await cursor.fetchall()
        return [
            SearchHit(index=self._index, id=doc_id, title=title, score=rank_to_score(-rank))
            for doc_id, title, rank in rows
        ]


class SqliteSearchIndexer:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def put(self, document: SearchDocument) -> None:
        owner = None if document.owner is None else str(document.owner)
        await self._db.execute(
            INDEX_DOCUMENT,
            (document.index.value, document.id, owner, document.title, document.body),
        )

    async def remove(self, index: IndexName, document_id: str) -> None:
        await self._db.execute(_REMOVE, (index.value, document_id))
