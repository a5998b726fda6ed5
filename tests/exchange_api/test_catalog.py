"""Catalog search over TestClient: text, owner, tags, columns, price range, sorting, paging, not found."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address
from sqlmodel import Session

from exchange_api.catalog.store import upsert_listing

pytestmark = [pytest.mark.api, pytest.mark.database]
OWNER_A = "0x" + "aa" * 20
OWNER_B = to_checksum_address("0x" + "bb" * 20)


@pytest.fixture
def seeded(app) -> None:
    rows = [
        (
            "dataset",
            1,
            OWNER_A,
            10**15,
            {
                "title": "Credit bureau scores",
                "description": "Consumer credit",
                "tags": ["finance", "credit"],
                "columns": [{"name": "score", "dtype": "f8"}, {"name": "id", "dtype": "i8"}],
            },
        ),
        (
            "dataset",
            2,
            OWNER_A,
            5 * 10**18,
            {
                "title": "Telecom usage",
                "description": "Monthly minutes",
                "tags": ["telecom"],
                "columns": ["id", "minutes"],
            },
        ),
        (
            "dataset",
            3,
            OWNER_B,
            2**70,
            {
                "title": "Tax records",
                "description": "Credit-relevant tax data",
                "tags": ["government", "finance"],
                "columns": ["id", "income"],
            },
        ),
        ("dataset", 4, OWNER_B, 10**15, {"title": "100%_weird title", "tags": ["misc"]}),
        ("algorithm", 1, OWNER_B, 7, {"title": "Logistic regression", "tags": ["ml"]}),
    ]
    with Session(app.state.ctx.engine) as session:
        for kind, lid, owner, price, meta in rows:
            upsert_listing(
                session,
                kind,
                lid,
                owner=owner,
                metadata_cid=f"bafk{lid}",
                price_wei=price,
                metadata=meta,
                created_block=lid,
            )
        upsert_listing(
            session,
            "dataset",
            5,
            owner=OWNER_A,
            price_wei=1,
            status="delisted",
            metadata={"title": "Old credit data"},
        )
        session.commit()


def ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [item["id"] for item in resp.json()["items"]]


def test_text_search_matches_all_words_in_any_field(client, seeded) -> None:
    assert ids(client.get("/v1/catalog/datasets?q=credit")) == [3, 1]
    assert ids(client.get("/v1/catalog/datasets?q=credit tax")) == [3]
    assert ids(client.get("/v1/catalog/datasets?q=minutes")) == [2]  # a column name
    assert ids(client.get("/v1/catalog/datasets?q=100%25_")) == [4]  # punctuation separates words
    assert ids(client.get("/v1/catalog/datasets?q=cred")) == [3, 1]  # words match as prefixes
    assert ids(client.get("/v1/catalog/datasets?q=redit")) == []  # ... not in the middle
    assert ids(client.get("/v1/catalog/datasets?q=%25")) == [4, 3, 2, 1]  # nothing to search: no text filter


def test_filters_by_owner_tag_column_and_price(client, seeded) -> None:
    assert ids(client.get(f"/v1/catalog/datasets?owner={OWNER_B.lower()}")) == [4, 3]
    assert ids(client.get("/v1/catalog/datasets?tag=finance")) == [3, 1]
    assert ids(client.get("/v1/catalog/datasets?tag=finance&tag=government")) == [3]
    assert ids(client.get("/v1/catalog/datasets?column=income")) == [3]
    assert ids(client.get("/v1/catalog/datasets?column=ID&tag=telecom")) == [2]
    assert ids(client.get(f"/v1/catalog/datasets?min_price={10**15}&max_price={10**15}")) == [4, 1]
    assert ids(client.get(f"/v1/catalog/datasets?min_price={2**70}")) == [3]  # exact beyond float precision
    assert ids(client.get(f"/v1/catalog/datasets?min_price={2**70 + 1}")) == []


def test_status_sorting_and_paging(client, seeded) -> None:
    assert ids(client.get("/v1/catalog/datasets?status=delisted")) == [5]
    assert ids(client.get("/v1/catalog/datasets?status=all&sort=oldest")) == [1, 2, 3, 4, 5]
    assert ids(client.get("/v1/catalog/datasets?sort=price_desc")) == [3, 2, 4, 1]
    assert ids(client.get("/v1/catalog/datasets?sort=title")) == [4, 1, 3, 2]
    page = client.get("/v1/catalog/datasets?sort=oldest&page=2&page_size=3").json()
    assert [i["id"] for i in page["items"]] == [4] and page["total"] == 4 and page["page"] == 2


def test_listing_detail_and_algorithms(client, seeded) -> None:
    one = client.get("/v1/catalog/datasets/3").json()
    assert one["owner"] == OWNER_B and one["price_wei"] == str(2**70)
    assert one["tags"] == ["government", "finance"] and {"name": "income", "dtype": ""} in one["columns"]
    assert ids(client.get("/v1/catalog/algorithms?q=regression")) == [1]
    resp = client.get("/v1/catalog/algorithms/2")
    assert resp.status_code == 404 and resp.json()["detail"] == "no algorithm listing with id 2"


def test_bad_filters_are_problems(client, seeded) -> None:
    resp = client.get("/v1/catalog/datasets?min_price=10&max_price=1")
    assert resp.status_code == 400 and "min_price 10 is above max_price 1" in resp.json()["detail"]
    assert client.get("/v1/catalog/datasets?owner=nobody").status_code == 422
    assert client.get("/v1/catalog/datasets?sort=random").status_code == 422
    assert client.get("/v1/catalog/datasets?page_size=1000").status_code == 422
    assert client.get("/v1/catalog/datasets/abc").status_code == 422
