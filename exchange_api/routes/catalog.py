"""The public catalog: search and filter dataset and algorithm listings (the API's hot read path)."""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, exists, func, select
from starlette.concurrency import run_in_threadpool

from exchange_api.context import CtxDep
from exchange_api.errors import BadRequest, NotFound, problem_responses
from exchange_api.listing_store import tokens
from exchange_api.models import Listing, ListingColumn, ListingTag, ListingToken

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])
log = logging.getLogger("exchange_api.catalog")
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
_OUT_COLUMNS = [
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


class ListingOut(BaseModel):
    id: int = Field(examples=[1])
    kind: str = Field(examples=["dataset"])
    owner: str = Field(examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])
    metadata_cid: str
    manifest_hash: str = Field(description="0x-hex commitment to the share manifest (or the code hash)")
    price_wei: str = Field(
        description="price per use in wei, as a decimal string", examples=["1000000000000000"]
    )
    max_uses: int
    uses: int
    expires_at: int = Field(description="unix time; 0 = never")
    status: str = Field(examples=["active"])
    title: str
    description: str
    tags: list[str]
    columns: list[dict[str, Any]] = Field(description="schema columns: [{name, dtype}]")
    extra: dict[str, Any] = Field(description="other metadata fields and policy")
    created_block: int
    updated_block: int


class CatalogPage(BaseModel):
    items: list[ListingOut]
    total: int = Field(description=f"matches across all pages, counted up to {MAX_COUNT}")
    total_is_exact: bool = Field(description=f"false when there are more than {MAX_COUNT} matches")
    page: int
    page_size: int


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
            select(*_OUT_COLUMNS)
            .where(where)
            .order_by(*order)
            .limit(page_size)
            .offset((page - 1) * page_size)
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
        row = conn.execute(
            select(*_OUT_COLUMNS).where(L.c.kind == kind, L.c.listing_id == listing_id)
        ).first()
    if row is None:
        raise NotFound(f"no {kind} listing with id {listing_id}")
    return listing_row_to_dict(row)


def _search_route(kind: str):  # type: ignore[no-untyped-def]
    async def search(
        ctx: CtxDep,
        q: Annotated[
            str | None,
            Query(
                max_length=200,
                description="words that must all appear in the title, description, tags or column names",
            ),
        ] = None,
        owner: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
        tag: Annotated[
            list[str] | None, Query(max_length=64, description="repeat for several (all must match)")
        ] = None,
        column: Annotated[
            list[str] | None, Query(max_length=128, description="schema column name; repeatable")
        ] = None,
        min_price: Annotated[
            int | None, Query(ge=0, lt=2**256, description="minimum price per use, wei")
        ] = None,
        max_price: Annotated[
            int | None, Query(ge=0, lt=2**256, description="maximum price per use, wei")
        ] = None,
        status: Annotated[str, Query(pattern=r"^(active|delisted|all)$")] = "active",
        sort: SortKey = SortKey.newest,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> JSONResponse:
        if min_price is not None and max_price is not None and min_price > max_price:
            raise BadRequest(f"min_price {min_price} is above max_price {max_price}")
        if (tag is not None and len(tag) > 10) or (column is not None and len(column) > 10):
            raise BadRequest("at most 10 tag and 10 column filters")
        filters: dict[str, Any] = dict(
            q=q,
            owner=to_checksum_address(owner) if owner else None,
            tags=tag or [],
            columns=column or [],
            min_price=min_price,
            max_price=max_price,
            status=None if status == "all" else status,
        )
        index = ctx.extra.get("catalog_index")
        # The common case stays on the event loop (one primary-key read, then numpy work well under a
        # millisecond); a rebuild or the SQL fallback runs in a worker thread.
        if index is not None:
            try:
                if index.current() or await run_in_threadpool(index.fresh):
                    body = index.search(kind, **filters, sort=sort.value, page=page, page_size=page_size)
                    return Response(body, media_type="application/json")
            except Exception:
                # The index is an accelerator: if it cannot be read or built, SQL still answers.
                log.exception("catalog index failed; answering from SQL")
        result = await run_in_threadpool(
            lambda: search_listings(ctx.engine, kind, **filters, sort=sort, page=page, page_size=page_size)
        )
        # Rows are already plain JSON types: skip re-validating them through the response model.
        return JSONResponse(result)

    return search


def _get_route(kind: str):  # type: ignore[no-untyped-def]
    def get_by_id(id: int, ctx: CtxDep) -> JSONResponse:
        if id < 1 or id >= 2**63:
            raise NotFound(f"no {kind} listing with id {id}")
        return JSONResponse(get_listing(ctx.engine, kind, id))

    return get_by_id


for _kind, _plural in (("dataset", "datasets"), ("algorithm", "algorithms")):
    router.add_api_route(
        f"/{_plural}",
        _search_route(_kind),
        methods=["GET"],
        response_model=CatalogPage,
        summary=f"Search {_kind} listings",
        name=f"search_{_plural}",
        description=f"Filter {_kind} listings by text, owner, tags, price range and schema columns; "
        "sorted and paginated. Public: no sign-in needed.",
        responses=problem_responses(400, 422),
    )
    router.add_api_route(
        f"/{_plural}/{{id}}",
        _get_route(_kind),
        methods=["GET"],
        response_model=ListingOut,
        summary=f"One {_kind} listing",
        name=f"get_{_kind}",
        responses=problem_responses(404, 422),
    )
