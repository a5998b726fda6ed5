"""The transparency log on a real database (SQLite, or PostgreSQL with DX_TEST_DATABASE=postgres)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from notarizer.checkpoints import CheckpointConflict
from notarizer.entry import InvalidEntry, Kind, payload_digest
from notarizer.log import (
    AnchoredCheckpoint,
    EntryNotFound,
    LogError,
    NewEntry,
    TransparencyLog,
    create_tables,
)
from notarizer.proofs import MemoryTree, ProofError, verify_consistency, verify_inclusion

pytestmark = pytest.mark.database

ALICE = "0x" + "Ab" * 20


@pytest.fixture
def log(db_engine) -> TransparencyLog:
    create_tables(db_engine)
    create_tables(db_engine)  # idempotent
    return TransparencyLog(db_engine)


def test_append_assigns_consecutive_sequence_numbers_and_stores_entries(log: TransparencyLog) -> None:
    a = log.append(Kind.API_REQUEST, ALICE, ["job:1"], {"method": "POST", "route": "/jobs", "status": 201})
    b = log.append("job.authorized", "system", ["job:1", "dataset:3"], {"tx": 1})
    assert (a.seq, b.seq, log.size()) == (0, 1, 2)
    assert a.actor == ALICE.lower()
    stored = log.entry(0)
    assert stored == a
    assert stored.payload == {"method": "POST", "route": "/jobs", "status": 201}
    assert stored.leaf_hash == a.computed_leaf_hash() == a.leaf_hash
    with pytest.raises(EntryNotFound, match="sequence number 5"):
        log.entry(5)


def test_withheld_payload_keeps_only_its_hash(log: TransparencyLog) -> None:
    digest = payload_digest({"secret": "share"})
    e = log.append(Kind.RESULT_SHARE, "system", ["job:2"], payload_hash=digest)
    assert log.entry(e.seq).payload is None and log.entry(e.seq).payload_hash == digest
    with pytest.raises(InvalidEntry, match="does not match the payload"):
        log.append(Kind.RESULT_SHARE, "system", ["job:2"], {"a": 1}, payload_hash=digest)


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "nonsense", "actor": "system"},
        {"kind": "job.done", "actor": ""},
        {"kind": "job.done", "actor": "system", "subjects": ["no-colon"]},
        {"kind": "job.done", "actor": "system", "payload": {"x": float("nan")}},
    ],
)
def test_invalid_entries_are_refused_and_nothing_of_the_batch_is_written(log: TransparencyLog, bad) -> None:
    with pytest.raises(InvalidEntry):
        log.append_many([NewEntry("job.requested", "system", ["job:1"]), bad])
    assert log.size() == 0


def test_filters_and_pagination(log: TransparencyLog) -> None:
    log.append_many(
        [
            NewEntry(
                "job.requested" if i % 2 else Kind.API_REQUEST,
                ALICE if i % 3 == 0 else "system",
                [f"job:{i % 4}", "dataset:9"],
                {"i": i},
            )
            for i in range(40)
        ]
    )
    assert [e.seq for e in log.entries(subject="job:1")] == list(range(1, 40, 4))
    assert [e.seq for e in log.entries(subject="job:1", offset=2, limit=3)] == [9, 13, 17]
    assert log.count(subject="dataset:9") == 40
    assert {e.kind for e in log.entries(kind="job.*", limit=None)} == {"job.requested"}
    assert log.count(actor=ALICE.upper().replace("0X", "0x")) == 14
    t = log.entry(0).time_us
    assert log.count(since=t) == 40 and log.count(until=t) == 0


def test_roots_and_proofs_match_an_in_memory_tree(log: TransparencyLog) -> None:
    for batch in (1, 2, 5, 17, 33, 1, 64):
        log.append_many(
            [NewEntry("job.requested", "system", ["job:1"], {"b": batch, "i": i}) for i in range(batch)]
        )
    n = log.size()
    leaves = log.leaf_hashes(0, n)
    assert leaves == [e.computed_leaf_hash() for e in log.iter_entries(batch=7)]
    mem = MemoryTree(leaves)
    for size in (1, 2, 3, 50, n):
        assert log.root(size) == mem.root(size)
    for i in (0, 1, 63, n - 1):
        proof = log.inclusion_proof(i, n)
        assert proof == mem.inclusion_proof(i, n)
        assert verify_inclusion(i, n, leaves[i], proof, log.root())
    for old in (1, 4, 50, n):
        assert verify_consistency(old, n, log.root(old), log.root(), log.consistency_proof(old))
    with pytest.raises(ProofError, match="outside the log's current size"):
        log.root(n + 1)


def test_concurrent_appenders_never_duplicate_or_skip_sequence_numbers(
    log: TransparencyLog, db_engine
) -> None:
    errors: list[BaseException] = []
    seqs: list[int] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        mine = TransparencyLog(db_engine)
        try:
            for i in range(15):
                got = (
                    [mine.append(Kind.API_REQUEST, "system", [f"member:{w}"], {"w": w, "i": i})]
                    if i % 3
                    else mine.append_many(
                        [NewEntry("job.requested", "system", [], {"w": w, "i": i, "k": k}) for k in range(3)]
                    )
                )
                with lock:
                    seqs.extend(e.seq for e in got)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = 6 * (10 + 5 * 3)
    assert sorted(seqs) == list(range(total)) and log.size() == total
    mem = MemoryTree(e.computed_leaf_hash() for e in log.iter_entries())
    assert mem.root() == log.root() and mem.size == total


def test_checkpoints_are_recorded_idempotently(log: TransparencyLog) -> None:
    log.append_many([NewEntry("job.requested", "system", []) for _ in range(5)])
    cp = AnchoredCheckpoint(0, 5, log.root(5), "0x" + "11" * 32, 7, 123)
    log.record_checkpoint(cp)
    log.record_checkpoint(cp)
    assert (
        log.checkpoints() == [cp] and log.checkpoint_covering(4) == cp and log.checkpoint_covering(5) is None
    )
    with pytest.raises(CheckpointConflict, match="checkpoint 0 is recorded as"):
        log.record_checkpoint(AnchoredCheckpoint(0, 4, log.root(4), None, None, 1))


def test_missing_state_row_is_reported(db_engine) -> None:
    create_tables(db_engine)
    with db_engine.begin() as conn:
        conn.execute(text("DELETE FROM log_state"))
    with pytest.raises(LogError, match="create_tables"):
        TransparencyLog(db_engine).append("job.requested", "system")


def test_entry_times_never_go_backwards(log: TransparencyLog, db_engine) -> None:
    first = log.append("job.requested", "system")
    future = first.time_us + 3_600_000_000
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE log_entries SET time_us = :t WHERE seq = 0"), {"t": future})
    assert log.append("job.requested", "system").time_us == future
