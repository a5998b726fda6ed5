"""In-memory catalog index per worker: filters, sorts and pages listings in numpy; items pre-rendered.

The hot read path of the API. Each worker keeps the filterable columns of every listing in arrays
(positions follow listing id), plus posting lists for tags, schema columns, owners and words. A
search intersects boolean masks, slices a precomputed sort order and splices the page's items, each
rendered to JSON once per build. The copy is checked against the `catalog_meta` counter on every
search (one primary-key read): when the catalog changed it is rebuilt, or, if it was rebuilt a moment
ago, that search goes to SQL (`catalog.search.search_listings`) so a client always reads its own writes.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from exchange_api.catalog.search import OUT_COLUMNS
from exchange_api.catalog.store import tokens
from exchange_api.models import CatalogMeta, Listing, ListingColumn, ListingTag, ListingToken

L, T, C, K = Listing.__table__, ListingTag.__table__, ListingColumn.__table__, ListingToken.__table__
M = CatalogMeta.__table__
MIN_REBUILD_INTERVAL = 0.5


def _positions(groups: dict[Any, list[int]]) -> dict[Any, np.ndarray]:
    return {k: np.asarray(v, dtype=np.int64) for k, v in groups.items()}


@dataclass
class KindIndex:
    """One kind's listings (datasets or algorithms), positions ordered by listing id."""

    pk: np.ndarray
    listing_id: np.ndarray
    price: np.ndarray  # float copy of the wei price (exact values are rechecked on the page)
    status: dict[str, np.ndarray]  # status -> boolean mask (comparing an object array costs more)
    by_price: np.ndarray  # positions sorted by (price, listing id)
    by_title: np.ndarray  # positions sorted by (title, listing id)
    owners: dict[str, np.ndarray] = field(default_factory=dict)
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    rendered: list[bytes] = field(default_factory=list)  # each listing's response JSON, made once per build
    exact_price: list[int] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # sorted, for prefix ranges
    postings: list[np.ndarray] = field(default_factory=list)  # parallel to `words`

    def _mask(self, positions: np.ndarray | None) -> np.ndarray:
        mask = np.zeros(len(self.pk), dtype=bool)
        if positions is not None and len(positions):
            mask[positions] = True
        return mask

    def match(
        self,
        q: str | None,
        owner: str | None,
        tags: list[str],
        columns: list[str],
        min_price: int | None,
        max_price: int | None,
        status: str | None,
    ) -> np.ndarray:
        """Positions of the matching listings, in listing-id order."""
        if status is None:
            mask = np.ones(len(self.pk), dtype=bool)
        else:
            known = self.status.get(status)
            mask = known.copy() if known is not None else np.zeros(len(self.pk), dtype=bool)
        if owner is not None:
            mask &= self._mask(self.owners.get(owner))
        for tag in tags:
            mask &= self._mask(self.tags.get(tag.lower()))
        for col in columns:
            mask &= self._mask(self.columns.get(col.lower()))
        for word in tokens(q or "")[:8]:
            lo = bisect.bisect_left(self.words, word)
            hi = bisect.bisect_left(self.words, word[:-1] + chr(ord(word[-1]) + 1))
            hits = np.concatenate(self.postings[lo:hi]) if hi > lo else None
            mask &= self._mask(hits)
        if min_price is not None:
            mask &= self.price >= float(min_price) * (1 - 1e-12)
        if max_price is not None:
            mask &= self.price <= float(max_price) * (1 + 1e-12)
        return np.flatnonzero(mask)

    def order(self, matches: np.ndarray, sort: str) -> np.ndarray:
        if sort == "newest":
            return matches[::-1]
        if sort == "oldest":
            return matches
        ranked = self.by_price if sort.startswith("price") else self.by_title
        keep = np.zeros(len(self.pk), dtype=bool)
        keep[matches] = True
        ordered = ranked[keep[ranked]]
        return ordered[::-1] if sort == "price_desc" else ordered


def build_kind(engine: Engine, kind: str, out_columns: list[Any]) -> KindIndex:
    extra = [c for c in out_columns if c.name not in ("listing_id", "status", "owner", "title")]
    with engine.connect() as conn:
        rows = conn.execute(
            select(L.c.pk, L.c.listing_id, L.c.price_sort, L.c.status, L.c.owner, L.c.title, *extra)
            .where(L.c.kind == kind)
            .order_by(L.c.listing_id)
        ).all()
        position = {r.pk: i for i, r in enumerate(rows)}
        tag_rows = conn.execute(
            select(T.c.listing_pk, T.c.tag).join(L, L.c.pk == T.c.listing_pk).where(L.c.kind == kind)
        ).all()
        col_rows = conn.execute(
            select(C.c.listing_pk, C.c.name).join(L, L.c.pk == C.c.listing_pk).where(L.c.kind == kind)
        ).all()
        tok_rows = conn.execute(
            select(K.c.listing_pk, K.c.token).join(L, L.c.pk == K.c.listing_pk).where(L.c.kind == kind)
        ).all()
    owners: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        owners.setdefault(r.owner, []).append(i)
    tags: dict[str, list[int]] = {}
    for pk, tag in tag_rows:
        tags.setdefault(tag, []).append(position[pk])
    cols: dict[str, list[int]] = {}
    for pk, name in col_rows:
        cols.setdefault(name, []).append(position[pk])
    words: dict[str, list[int]] = {}
    for pk, token in tok_rows:
        words.setdefault(token, []).append(position[pk])
    sorted_words = sorted(words)
    ids = [r.listing_id for r in rows]
    names = [c.name for c in out_columns]
    rendered = []
    for r in rows:
        item = {name: getattr(r, name) for name in names}
        item["id"] = item.pop("listing_id")
        rendered.append(json.dumps(item, separators=(",", ":")).encode())
    return KindIndex(
        pk=np.asarray([r.pk for r in rows], dtype=np.int64),
        listing_id=np.asarray(ids, dtype=np.int64),
        price=np.asarray([r.price_sort for r in rows], dtype=np.float64),
        status={
            st: np.asarray([r.status == st for r in rows], dtype=bool) for st in {r.status for r in rows}
        },
        # Same tie-breaks as the SQL path: (price, id) and (title, id) in binary string order.
        by_price=np.asarray(
            sorted(range(len(rows)), key=lambda i: (rows[i].price_sort, ids[i])), dtype=np.int64
        ),
        by_title=np.asarray(sorted(range(len(rows)), key=lambda i: (rows[i].title, ids[i])), dtype=np.int64),
        owners=_positions(owners),
        tags=_positions(tags),
        columns=_positions(cols),
        rendered=rendered,
        exact_price=[int(r.price_wei) for r in rows],
        words=sorted_words,
        postings=[np.asarray(words[w], dtype=np.int64) for w in sorted_words],
    )


class CatalogIndex:
    """The worker's copy of the catalog; `search` returns the same document as search.search_listings."""

    def __init__(self, engine: Engine, out_columns: list[Any] = OUT_COLUMNS) -> None:
        self.engine = engine
        self.out_columns = out_columns
        self.version: int | None = None
        self.kinds: dict[str, KindIndex] = {}
        self.built_at = 0.0
        self._lock = threading.Lock()
        self._version_lock = threading.Lock()
        self._version_conn: Any = None

    def _current_version(self) -> int:
        # Asked on every search: a dedicated DBAPI connection skips the pool and statement compilation.
        with self._version_lock:
            try:
                if self._version_conn is None:
                    self._version_conn = self.engine.raw_connection()
                cur = self._version_conn.cursor()
                cur.execute("SELECT version FROM catalog_meta WHERE id = 1")
                row = cur.fetchone()
                cur.close()
                self._version_conn.rollback()  # end the read, so the next one sees newer commits
                return int(row[0]) if row else 0
            except Exception:
                if self._version_conn is not None:
                    self._version_conn.invalidate()
                    self._version_conn = None
                raise

    def current(self) -> bool:
        """True when the copy matches the database now (one primary-key read)."""
        return self.version is not None and self._current_version() == self.version

    def fresh(self) -> bool:
        """Make the copy current if that is cheap enough now; False means: answer this search from SQL."""
        version = self._current_version()
        if version == self.version:
            return True
        with self._lock:
            if version == self.version:
                return True
            if time.monotonic() - self.built_at < MIN_REBUILD_INTERVAL:
                return False  # the catalog is changing fast: do not rebuild on every write
            kinds = {
                kind: build_kind(self.engine, kind, self.out_columns) for kind in ("dataset", "algorithm")
            }
            self.kinds, self.version, self.built_at = kinds, version, time.monotonic()
            return True

    def search(
        self,
        kind: str,
        *,
        q: str | None,
        owner: str | None,
        tags: list[str],
        columns: list[str],
        min_price: int | None,
        max_price: int | None,
        status: str | None,
        sort: str,
        page: int,
        page_size: int,
    ) -> bytes:
        """The response body (JSON bytes) of one catalog search, spliced from pre-rendered items."""
        index = self.kinds[kind]
        matches = index.match(q, owner, tags, columns, min_price, max_price, status)
        window = index.order(matches, sort)[(page - 1) * page_size : page * page_size]
        positions = [int(p) for p in window]
        if min_price is not None or max_price is not None:
            # The masks compared a float copy of the uint256 price: recheck the page exactly.
            positions = [
                p
                for p in positions
                if (min_price is None or index.exact_price[p] >= min_price)
                and (max_price is None or index.exact_price[p] <= max_price)
            ]
        items = b",".join(index.rendered[p] for p in positions)
        tail = json.dumps(
            {"total": len(matches), "total_is_exact": True, "page": page, "page_size": page_size}
        )
        return b'{"items":[' + items + b"]," + tail[1:].encode()
