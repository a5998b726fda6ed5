"""The public catalog routes: search and read dataset and algorithm listings (the API's hot read path)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from exchange_api.catalog.search import MAX_PAGE_SIZE, SortKey, get_listing, search_listings
from exchange_api.deps import CtxDep
from exchange_api.errors import BadRequest, NotFound, problem_responses
from exchange_api.schemas import CatalogPage, ListingOut

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])
log = logging.getLogger("exchange_api.catalog")


def _search_route(kind: str) -> Callable[..., Any]:
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
        index = ctx.catalog
        # The common case stays on the event loop (one primary-key read, then numpy work well under a
        # millisecond); a rebuild or the SQL fallback runs in a worker thread.
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


def _get_route(kind: str) -> Callable[..., Any]:
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
