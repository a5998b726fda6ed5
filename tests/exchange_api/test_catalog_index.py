"""The in-memory catalog index answers exactly like the SQL search, and notices every catalog change."""

from __future__ import annotations

import json
import random

import pytest
from eth_utils import to_checksum_address
from sqlmodel import Session

from exchange_api.catalog import index as catalog_index
from exchange_api.catalog.index import CatalogIndex
from exchange_api.catalog.search import OUT_COLUMNS, SortKey, search_listings
from exchange_api.catalog.store import upsert_listing
from exchange_api.db import make_engine, upgrade_head

pytestmark = [pytest.mark.api, pytest.mark.database]
WORDS = ["credit", "crop", "bank", "tax", "telecom", "health", "retail", "fraud", "income", "claims"]
TAGS = ["finance", "telecom", "government", "health", "ml"]
COLS = ["id", "age", "income", "balance", "score"]
OWNERS = [f"0x{i:040x}" for i in range(1, 6)]


@pytest.fixture
def engine(database_url):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    upgrade_head(engine)
    rng = random.Random(3)
    with Session(engine) as session:
        for i in range(1, 301):
            upsert_listing(
                session,
                "dataset",
                i,
                owner=rng.choice(OWNERS),
                metadata_cid=f"b{i}",
                price_wei=rng.randrange(1, 10**6),
                status="delisted" if i % 17 == 0 else "active",
                metadata={
                    "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i:04d}",
                    "tags": rng.sample(TAGS, 2),
                    "columns": rng.sample(COLS, 3),
                },
            )
        session.commit()
    yield engine
    engine.dispose()


def _random_query(rng: random.Random) -> dict:
    query: dict = {
        "q": None,
        "owner": None,
        "tags": [],
        "columns": [],
        "min_price": None,
        "max_price": None,
        "status": rng.choice(["active", "active", None, "delisted"]),
    }
    if rng.random() < 0.5:
        query["q"] = rng.choice(WORDS)[: rng.randint(2, 6)]
    if rng.random() < 0.4:
        query["tags"] = rng.sample(TAGS, rng.randint(1, 2))
    if rng.random() < 0.3:
        query["columns"] = [rng.choice(COLS)]
    if rng.random() < 0.2:
        query["owner"] = to_checksum_address(rng.choice(OWNERS))
    if rng.random() < 0.3:
        lo = rng.randrange(0, 10**6)
        query["min_price"], query["max_price"] = lo, lo + rng.randrange(1, 5 * 10**5)
    return query


def test_index_and_sql_agree_on_random_searches(engine) -> None:
    index = CatalogIndex(engine, OUT_COLUMNS)
    assert index.fresh()
    rng = random.Random(5)
    for _ in range(150):
        query = _random_query(rng)
        sort = rng.choice(list(SortKey))
        page, size = rng.choice([1, 1, 2, 3]), rng.choice([5, 20])
        sql = search_listings(engine, "dataset", **query, sort=sort, page=page, page_size=size)
        mem = json.loads(index.search("dataset", **query, sort=sort.value, page=page, page_size=size))
        assert mem["items"] == sql["items"], (query, sort, page)
        if sql["total_is_exact"]:
            assert mem["total"] == sql["total"], query


def test_index_sees_new_and_changed_listings(engine, monkeypatch) -> None:
    monkeypatch.setattr(catalog_index, "MIN_REBUILD_INTERVAL", 0.0)
    index = CatalogIndex(engine, OUT_COLUMNS)
    assert index.fresh()

    def ids(**kw) -> list[int]:  # type: ignore[no-untyped-def]
        assert index.fresh()
        base = {
            "q": None,
            "owner": None,
            "tags": [],
            "columns": [],
            "min_price": None,
            "max_price": None,
            "status": "active",
        } | kw
        res = json.loads(index.search("dataset", **base, sort="newest", page=1, page_size=50))
        return [i["id"] for i in res["items"]]

    assert 301 not in ids(q="zebra")
    with Session(engine) as session:
        upsert_listing(
            session, "dataset", 301, owner=OWNERS[0], price_wei=1, metadata={"title": "Zebra counts"}
        )
        session.commit()
    assert ids(q="zebra") == [301]
    with Session(engine) as session:
        upsert_listing(session, "dataset", 301, status="delisted")
        session.commit()
    assert ids(q="zebra") == []


def test_a_change_right_after_a_rebuild_is_answered_from_sql(client, app) -> None:
    # Through the route: the listing written just now is visible at once (read-your-writes).
    ctx = app.state.ctx
    with Session(ctx.engine) as session:
        upsert_listing(session, "dataset", 1, owner=OWNERS[0], price_wei=5, metadata={"title": "First"})
        session.commit()
    assert [i["id"] for i in client.get("/v1/catalog/datasets").json()["items"]] == [1]
    with Session(ctx.engine) as session:
        upsert_listing(session, "dataset", 2, owner=OWNERS[0], price_wei=5, metadata={"title": "Second"})
        session.commit()
    assert [i["id"] for i in client.get("/v1/catalog/datasets").json()["items"]] == [2, 1]
