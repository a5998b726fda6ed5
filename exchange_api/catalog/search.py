"""The catalog's SQL search: filter, sort and page listings in the database (the index mirrors it)."""

from __future__ import annotations

import threading
import time
from enum import StrEnum
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import Engine, and_, exists, func, select

from exchange_api.catalog.store import tokens
from exchange_api.errors import NotFound
from exchange_api.models import Listing, ListingColumn, ListingTag, ListingToken

L = Listing.__table__
T = ListingTag.__table__
C = ListingColumn.__table__
K = ListingToken.__table__
MAX_PAGE_SIZE = 100
MAX_COUNT = 1000


class _TtlCache:
    """Match counts per filter set for a couple of seconds: every sort order and page of one search
    shares its count, and the catalog only changes when the indexer applies new blocks anyway."""

    def __init__(self, ttl: float = 2.0, size: int = 4096) -> None:
        self.ttl, self.size = ttl, size
        self._data: dict[Any, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> int | None:
        hit = self._data.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def put(self, key: Any, value: int) -> None:
        with self._lock:
            if len(self._data) >= self.size:
                self._data.clear()
            self._data[key] = (time.monotonic(), value)


_COUNTS = _TtlCache()
# The columns of a listing in API answers (the SQL search and the in-memory index render the same).
OUT_COLUMNS = [
    L.c.listing_id,
    L.c.kind,
    L.c.owner,
    L.c.metadata_cid,
    L.c.manifest_hash,
    L.c.price_wei,
    L.c.max_uses,
    L.c.uses,
    L.c.expires_at,
    L.c.status,
    L.c.title,
    L.c.description,
    L.c.tags,
    L.c.columns,
    L.c.extra,
    L.c.created_block,
    L.c.updated_block,
]


class SortKey(StrEnum):
    newest = "newest"
    oldest = "oldest"
    price_asc = "price_asc"
    price_desc = "price_desc"
    title = "title"


def listing_row_to_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["id"] = out.pop("listing_id")
    return out


def exact_price(items: list[dict[str, Any]], min_price: int | None, max_price: int | None) -> list[dict]:
    """Recheck a page's prices exactly (filters ran on a float copy of the uint256 price)."""
    if min_price is None and max_price is None:
        return items
    return [
        it
        for it in items
        if (min_price is None or int(it["price_wei"]) >= min_price)
        and (max_price is None or int(it["price_wei"]) <= max_price)
    ]


def search_listings(
    engine: Engine,
    kind: str,
    *,
    q: str | None = None,
    owner: str | None = None,
    tags: list[str] | None = None,
    columns: list[str] | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    status: str | None = "active",
    sort: SortKey = SortKey.newest,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    """One query for the page and one for the total; tag and column filters are indexed EXISTS lookups."""
    conds = [L.c.kind == kind]
    if status:
        conds.append(L.c.status == status)
    if owner:
        conds.append(L.c.owner == to_checksum_address(owner))
    # Each filter is an IN over an indexed side table, so the database starts from the few matching
    # listings instead of scanning all of them (and a page costs the same with 10 or 10^6 listings).
    for word in tokens(q or "")[:8]:
        upper = word[:-1] + chr(ord(word[-1]) + 1)  # [word, upper) is every token starting with word
        conds.append(L.c.pk.in_(select(K.c.listing_pk).where(K.c.token >= word, K.c.token < upper)))
    for tag in tags or []:
        conds.append(exists().where(T.c.listing_pk == L.c.pk, T.c.tag == tag.lower()))
    for col in columns or []:
        conds.append(exists().where(C.c.listing_pk == L.c.pk, C.c.name == col.lower()))
    # price_sort is a float copy of the exact wei price: filter on it, then recheck exactly below.
    if min_price is not None:
        conds.append(L.c.price_sort >= float(min_price) * (1 - 1e-12))
    if max_price is not None:
        conds.append(L.c.price_sort <= float(max_price) * (1 + 1e-12))
    order = {
        SortKey.newest: [L.c.listing_id.desc()],
        SortKey.oldest: [L.c.listing_id.asc()],
        SortKey.price_asc: [L.c.price_sort.asc(), L.c.listing_id.asc()],
        SortKey.price_desc: [L.c.price_sort.desc(), L.c.listing_id.desc()],
        SortKey.title: [L.c.title.asc(), L.c.listing_id.asc()],
    }[sort]
    where = and_(*conds)
    with engine.connect() as conn:
        rows = conn.execute(
            select(*OUT_COLUMNS).where(where).order_by(*order).limit(page_size).offset((page - 1) * page_size)
        ).all()
        if len(rows) < page_size and (rows or page == 1):
            total = (page - 1) * page_size + len(rows)  # the last page tells the total without counting
        else:
            key = (
                id(engine),
                kind,
                q,
                owner,
                tuple(tags or ()),
                tuple(columns or ()),
                min_price,
                max_price,
                status,
            )
            total = _COUNTS.get(key)
            if total is None:
                # Counting stops at MAX_COUNT + 1 matches: a broad search costs a bounded scan, and the UI
                # shows "1000+" instead of an exact figure nobody pages through.
                capped = select(L.c.pk).where(where).limit(MAX_COUNT + 1).subquery()
                total = conn.execute(select(func.count()).select_from(capped)).scalar_one()
                _COUNTS.put(key, total)
    items = exact_price([listing_row_to_dict(r) for r in rows], min_price, max_price)
    exact = total <= MAX_COUNT
    return {
        "items": items,
        "total": min(total, MAX_COUNT),
        "total_is_exact": exact,
        "page": page,
        "page_size": page_size,
    }


def get_listing(engine: Engine, kind: str, listing_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(*OUT_COLUMNS).where(L.c.kind == kind, L.c.listing_id == listing_id)).first()
    if row is None:
        raise NotFound(f"no {kind} listing with id {listing_id}")
    return listing_row_to_dict(row)
