"""Search as you type over the replica: accounts, contacts, towns, postcodes and products.

An SQLite FTS5 index, kept by triggers on the account, contact and product tables, so every
write keeps it current whoever makes it (a pull's bulk upserts, a rep's edit, a purge). The
`unicode61` tokenizer with `remove_diacritics 2` folds case and accents ("séverine" finds
"Séverine", "Severine" too); every typed word matches as a prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

__all__ = ["SearchHit", "ensure_search_index", "fts_query", "search_index"]

#: FTS rowid = the source row's rowid * 4 + its kind: an update or a delete finds its entry at once.
_KINDS = {"account": 1, "contact": 2, "product": 3}

_SOURCES = {
    # kind: (title, place, extra, account id) as SQL over the source row `r`
    "account": (
        "r.name",
        "coalesce(r.billing_city, '') || ' ' || coalesce(r.billing_postcode, '')",
        "coalesce(r.siren, '') || ' ' || coalesce(r.email, '')",
        "r.id",
    ),
    "contact": (
        "coalesce(r.first_name, '') || ' ' || r.last_name",
        "''",
        "coalesce(r.email, '') || ' ' || coalesce(r.role, '')",
        "r.account_id",
    ),
    "product": ("r.name", "''", "r.sku || ' ' || r.category", "NULL"),
}

_TABLE = """
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(
    kind UNINDEXED, ref_id UNINDEXED, account_id UNINDEXED, title, place, extra,
    tokenize = "unicode61 remove_diacritics 2", prefix = '2 3'
)
"""


_COLUMNS = "rowid, kind, ref_id, account_id, title, place, extra"
#: How many matches of a query are ranked at most (see search_index).
RANKED_AT_MOST = 400


def _values(kind: str, alias: str) -> str:
    title, place, extra, account = (part.replace("r.", f"{alias}.") for part in _SOURCES[kind])
    return f"{alias}.rowid * 4 + {_KINDS[kind]}, '{kind}', {alias}.id, {account}, {title}, {place}, {extra}"


def _entry(kind: str, alias: str) -> str:
    return f"INSERT INTO search_index ({_COLUMNS}) VALUES ({_values(kind, alias)});"


def _triggers(kind: str) -> list[str]:
    table, code = kind, _KINDS[kind]
    return [
        f'CREATE TRIGGER IF NOT EXISTS search_{table}_insert AFTER INSERT ON "{table}" BEGIN {_entry(kind, "new")} END',
        f'CREATE TRIGGER IF NOT EXISTS search_{table}_delete AFTER DELETE ON "{table}" BEGIN '
        f"DELETE FROM search_index WHERE rowid = old.rowid * 4 + {code}; END",
        f'CREATE TRIGGER IF NOT EXISTS search_{table}_update AFTER UPDATE ON "{table}" BEGIN '
        f"DELETE FROM search_index WHERE rowid = old.rowid * 4 + {code}; {_entry(kind, 'new')} END",
    ]


def ensure_search_index(engine: Engine) -> None:
    """Create the index and its triggers (once); fill it from the tables if it is new."""
    with engine.begin() as conn:
        existed = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_index'"
        ).first()
        conn.exec_driver_sql(_TABLE)
        for kind in _KINDS:
            for trigger in _triggers(kind):
                conn.exec_driver_sql(trigger)
        if not existed:
            for kind in _KINDS:
                conn.exec_driver_sql(
                    f'INSERT INTO search_index ({_COLUMNS}) SELECT {_values(kind, "r")} FROM "{kind}" r'
                )


def fts_query(text: str) -> str | None:
    """What a person typed as an FTS5 query: every word a prefix, all of them required."""
    words = re.findall(r"\w+", text.casefold())
    if not words:
        return None
    return " ".join(f'"{word}"*' for word in words)


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: str
    ref_id: str
    account_id: str | None
    title: str


def search_index(conn: Connection, text: str, *, kinds: tuple[str, ...], limit: int) -> list[SearchHit]:
    """The best matches first (FTS5's bm25, then the title).

    Ranking every match of a broad prefix ("é", "38" in a department) costs tens of
    milliseconds on a large book, for results nobody reads: the index gives its first
    RANKED_AT_MOST matches in its own order, and only those are ranked. When fewer match (any
    prefix of two or three letters and more, on a rep's book), all of them are."""
    query = fts_query(text)
    if query is None:
        return []
    marks = ", ".join("?" for _ in kinds)
    rows = conn.exec_driver_sql(
        f"SELECT kind, ref_id, account_id, title, rank FROM search_index WHERE search_index MATCH ? "
        f"AND kind IN ({marks}) LIMIT ?",
        (query, *kinds, max(limit, RANKED_AT_MOST)),
    ).all()
    return [SearchHit(*row[:4]) for row in sorted(rows, key=lambda row: (row[4], row[3]))[:limit]]
