"""The regulator's audit router over a real database, through FastAPI's test client."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from exchange_api.routes.audit import make_audit_router
from notarizer.bundle import bundle_signer
from notarizer.log import AnchoredCheckpoint, NewEntry, TransparencyLog, create_tables
from notarizer.proofs import verify_consistency, verify_inclusion

pytestmark = pytest.mark.database

SIGNER = Account.from_key("0x" + "42" * 32)


def only_regulator(x_role: str = Header("")) -> None:
    if x_role != "regulator":
        raise HTTPException(status_code=403, detail="regulators only")


@pytest.fixture
def setup(db_engine) -> tuple[TestClient, TransparencyLog]:
    create_tables(db_engine)
    log = TransparencyLog(db_engine)
    log.append_many(
        [
            NewEntry(
                "job.requested",
                "0x" + "aa" * 20,
                [f"job:{i}", "dataset:3"],
                {"algorithm": "mean", "buyer": "0x" + "aa" * 20},
            )
            for i in range(1, 4)
        ]
    )
    log.append_many([NewEntry("api.request", "system", [], {"route": "/x", "i": i}) for i in range(5)])
    log.record_checkpoint(AnchoredCheckpoint(0, 4, log.root(4), "0x" + "01" * 32, 10, 1))
    log.record_checkpoint(AnchoredCheckpoint(1, 7, log.root(7), "0x" + "02" * 32, 11, 2))
    log.append("job.completed", "system", ["job:2", "dataset:3"], {"result_hash": "ab"})
    app = FastAPI()
    app.include_router(make_audit_router(log, only_regulator, signer=SIGNER))
    return TestClient(app, headers={"x-role": "regulator"}), log


def test_routes_require_the_regulator_dependency(setup) -> None:
    client, _ = setup
    assert client.get("/audit/entries", headers={"x-role": "buyer"}).status_code == 403


def test_entries_are_filtered_and_paginated(setup) -> None:
    client, _ = setup
    body = client.get("/audit/entries", params={"subject": "dataset:3", "limit": 2, "offset": 1}).json()
    assert body["total"] == 4 and [e["seq"] for e in body["items"]] == [1, 2]
    assert client.get("/audit/entries", params={"kind": "api.*"}).json()["total"] == 5
    page = client.get("/audit/entries", params={"limit": 4}).json()
    assert (
        page["next_offset"] == 4
        and client.get("/audit/entries", params={"offset": 8}).json()["next_offset"] is None
    )
    t = client.get("/audit/entries/0").json()["time_iso"]
    assert client.get("/audit/entries", params={"since": t}).json()["total"] == 9
    assert client.get("/audit/entries", params={"until": t}).json()["total"] == 0
    bad = client.get("/audit/entries", params={"since": "2026-01-01T00:00:00"})
    assert bad.status_code == 400 and "no zone offset" in bad.json()["detail"]


def test_entry_carries_an_inclusion_proof_against_its_checkpoint(setup) -> None:
    client, log = setup
    body = client.get("/audit/entries/5").json()
    inc = body["inclusion"]
    assert inc["checkpoint"] == 1 and inc["tx_hash"] == "0x" + "02" * 32
    assert verify_inclusion(
        5,
        inc["tree_size"],
        bytes.fromhex(body["leaf_hash"]),
        [bytes.fromhex(h) for h in inc["audit_path"]],
        log.root(7),
    )
    assert client.get("/audit/entries/1").json()["inclusion"]["checkpoint"] == 1  # against the latest
    assert client.get("/audit/entries/8").json()["inclusion"] is None  # not anchored yet
    missing = client.get("/audit/entries/99")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["title"] == "Entry not found" and "99" in missing.json()["detail"]


def test_job_trail_dataset_usage_and_checkpoints(setup) -> None:
    client, log = setup
    trail = client.get("/audit/jobs/2/trail").json()
    assert [e["seq"] for e in trail["entries"]] == [1, 8]
    assert trail["entries"][0]["inclusion"]["tx_hash"] == "0x" + "01" * 32  # the checkpoint that covered it
    assert client.get("/audit/jobs/77/trail").status_code == 404
    usage = client.get("/audit/datasets/3/usage").json()
    assert [(u["seq"], u["jobs"], u["algorithm"], u["kind"]) for u in usage["uses"]] == [
        (0, ["job:1"], "mean", "job.requested"),
        (1, ["job:2"], "mean", "job.requested"),
        (2, ["job:3"], "mean", "job.requested"),
        (8, ["job:2"], "mean", "job.completed"),
    ]
    assert usage["uses"][-1]["result_hash"] == "ab" and usage["uses"][-1]["buyer"] == "0x" + "aa" * 20
    assert usage["uses"][0]["inclusion"]["checkpoint"] == 0
    job2 = usage["jobs"][1]
    assert (job2["job"], job2["status"], job2["seqs"], job2["algorithm"]) == (
        "job:2",
        "job.completed",
        [1, 8],
        "mean",
    )
    cps = client.get("/audit/checkpoints").json()["checkpoints"]
    proof = [bytes.fromhex(h) for h in cps[1]["consistency_from_previous"]["proof"]]
    assert verify_consistency(4, 7, log.root(4), log.root(7), proof)
    assert client.get("/audit/consistency", params={"old": 10}).status_code == 400


def test_export_bundle_is_signed_and_full_export_is_json_lines(setup) -> None:
    client, log = setup
    bundle = client.get("/audit/export", params={"job": 2}).json()
    assert bundle_signer(bundle) == SIGNER.address
    assert [e["seq"] for e in bundle["entries"]] == [1, 8]
    lines = client.get("/audit/export").text.splitlines()
    assert [json.loads(x)["seq"] for x in lines] == list(range(log.size()))
    assert client.get("/audit/export", params={"job": 1, "dataset": 3}).status_code == 400


def test_dataset_usage_reads_job_requests_in_the_indexer_form(setup) -> None:
    client, log = setup
    buyer = "0x" + "bb" * 20
    args = {"jobId": 9, "buyer": buyer, "terms": {"datasetIds": [5, 6], "algorithmId": 4}}
    log.append(
        "job.requested",
        buyer,
        ["job:9"],
        {"event": "JobRequested", "tx_hash": "0x" + "0a" * 32, "log_index": 0, "args": args},
    )
    log.append(
        "job.authorized",
        "system",
        ["job:9"],
        {"event": "JobAuthorized", "tx_hash": "0x" + "0b" * 32, "log_index": 1, "args": {"jobId": 9}},
    )
    usage = client.get("/audit/datasets/5/usage").json()
    assert [(u["seq"], u["job"], u["kind"], u["buyer"], u["algorithm"]) for u in usage["uses"]] == [
        (9, 9, "job.requested", buyer, 4),
        (10, 9, "job.authorized", buyer, 4),
    ]
    assert usage["jobs"][0]["status"] == "job.authorized"
    assert client.get("/audit/datasets/7/usage").json() == {"dataset": 7, "uses": [], "jobs": []}
