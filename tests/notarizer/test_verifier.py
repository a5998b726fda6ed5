"""The regulator's verifier on a log anchored on Anvil: clean logs pass; each kind of tampering is named."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from notarizer.anchorer import Anchorer
from notarizer.chainview import ChainEvent
from notarizer.cli import main as verify_main
from notarizer.entry import chain_event_ref
from notarizer.log import NewEntry, TransparencyLog
from notarizer.verifier import Finding, verify, verify_entries

pytestmark = [pytest.mark.chain, pytest.mark.database]
EVIL = "0x" + "66" * 20


@pytest.fixture
def anchored(tlog: TransparencyLog, fresh_chain, operator, chain) -> tuple[TransparencyLog, str, str]:
    """A log of 30 API and job entries plus three checkpoint notes, anchored in three checkpoints."""
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=10, every_seconds=3600)
    for batch in range(3):
        tlog.append_many(
            [
                NewEntry(
                    "api.request" if i % 2 else "job.requested",
                    "0x" + "aa" * 20,
                    [f"job:{batch}"],
                    {"batch": batch, "i": i},
                )
                for i in range(10)
            ]
        )
        assert anchorer.run_once() is not None
    return tlog, chain.rpc_url, fresh_chain.notary.address


def export(log: TransparencyLog) -> list[dict]:
    return [e.to_json() for e in log.iter_entries()]


def problems(report) -> list[tuple[str, int | None, int | None]]:
    return [(f.problem, f.seq, f.checkpoint) for f in report.errors]


def sql(log: TransparencyLog, *statements: str) -> None:
    with log.engine.begin() as conn:
        for s in statements:
            conn.execute(text(s))


def test_a_clean_log_verifies(anchored) -> None:
    log, rpc, notary = anchored
    report = verify(rpc, notary, export(log))
    assert report.ok, report.findings
    assert (report.entries, report.checkpoints, report.anchored_size) == (33, 3, 32)
    assert [f.problem for f in report.findings] == ["unanchored"]  # the last checkpoint's own note


def test_changed_entry_is_named(anchored) -> None:
    log, rpc, notary = anchored
    sql(log, f"UPDATE log_entries SET actor = '{EVIL}' WHERE seq = 5")
    report = verify(rpc, notary, export(log))
    assert ("changed", 5, None) in problems(report)
    assert {p for p, s, _ in problems(report) if s is None} == {"root-mismatch"}


def test_changed_payload_is_named(anchored) -> None:
    log, rpc, notary = anchored
    with log.engine.begin() as conn:
        conn.execute(text("UPDATE log_entries SET payload = :p WHERE seq = 3"), {"p": '{"batch":0,"i":9}'})
    report = verify(rpc, notary, export(log))
    assert problems(report) == [("changed", 3, None)]
    assert "does not hash to its payload_hash" in report.errors[0].detail


def test_dropped_entry_is_named(anchored) -> None:
    log, rpc, notary = anchored
    sql(log, "DELETE FROM log_entries WHERE seq = 7")
    report = verify(rpc, notary, export(log))
    assert problems(report)[0] == ("dropped", 7, None)
    assert all(p == "truncated" for p, s, _ in problems(report)[1:])


def test_dropped_and_renumbered_entry_is_named(anchored) -> None:
    log, rpc, notary = anchored
    sql(
        log,
        "DELETE FROM log_entries WHERE seq = 7",
        "UPDATE log_entries SET seq = seq + 1000000 WHERE seq > 7",
        "UPDATE log_entries SET seq = seq - 1000001 WHERE seq > 1000000",
    )
    report = verify(rpc, notary, export(log))
    entry_findings = [(p, s) for p, s, _ in problems(report) if s is not None]
    assert entry_findings == [("dropped", 7)]
    assert "renumbered -1" in report.errors[0].detail


def test_reordered_entries_are_named(anchored) -> None:
    log, rpc, notary = anchored
    sql(
        log,
        "UPDATE log_entries SET seq = -1 WHERE seq = 3",
        "UPDATE log_entries SET seq = 3 WHERE seq = 4",
        "UPDATE log_entries SET seq = 4 WHERE seq = -1",
    )
    report = verify(rpc, notary, export(log))
    assert [(p, s) for p, s, _ in problems(report) if s is not None] == [("reordered", 3)]
    assert "seq 3 and seq 4 were swapped" in report.errors[0].detail
    lines = export(TransparencyLog(log.engine))
    lines[3], lines[4] = lines[4], lines[3]
    assert ("reordered", 3, None) in problems(verify(rpc, notary, lines))


def test_inserted_entry_is_named(anchored) -> None:
    log, rpc, notary = anchored
    sql(
        log,
        "UPDATE log_entries SET seq = seq + 1000000 WHERE seq >= 12",
        "UPDATE log_entries SET seq = seq - 999999 WHERE seq >= 1000000",
        "INSERT INTO log_entries (seq, time_us, actor, kind, subjects, payload_hash, payload) "
        f"SELECT 12, time_us, '{EVIL}', kind, subjects, payload_hash, payload FROM log_entries "
        "WHERE seq = 11",
    )
    report = verify(rpc, notary, export(log))
    assert [(p, s) for p, s, _ in problems(report) if s is not None] == [("inserted", 12)]
    assert "renumbered +1" in report.errors[0].detail


def test_forked_checkpoint_on_chain_is_named(anchored, fresh_chain, operator) -> None:
    log, rpc, notary = anchored
    log.append("job.completed", "system", ["job:1"], {"ok": True})
    fresh_chain.notary.anchor(operator, log.size(), b"\x13" * 32)
    report = verify(rpc, notary, export(log))
    assert problems(report) == [("forked-root", None, 3)]
    assert "not this log" in report.errors[0].detail


def test_without_recorded_leaf_hashes_a_rewrite_is_localized_to_a_checkpoint(anchored) -> None:
    log, rpc, notary = anchored
    sql(log, f"UPDATE log_entries SET actor = '{EVIL}' WHERE seq = 15")
    lines = [{k: v for k, v in e.items() if k != "leaf_hash"} for e in export(log)]
    report = verify(rpc, notary, lines)
    assert [(p, c) for p, _, c in problems(report)] == [("forked-root", 1), ("forked-root", 2)]
    assert "[10, 21)" in report.errors[0].detail


def test_cli_reports_as_json_and_by_exit_code(anchored, tmp_path, capsys) -> None:
    log, rpc, notary = anchored
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in export(log)))
    assert verify_main(["--rpc", rpc, "--notary", notary, "--log", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    sql(log, "DELETE FROM log_entries WHERE seq = 2")
    path.write_text("".join(json.dumps(e) + "\n" for e in export(log)))
    assert verify_main(["--rpc", rpc, "--notary", notary, "--log", str(path)]) == 1
    out = capsys.readouterr().out
    assert "VERIFICATION FAILED" in out and "dropped" in out


def test_chain_event_cross_check_both_ways(tlog) -> None:
    tx = "0x" + "ab" * 32
    tlog.append(
        "job.authorized", "system", ["job:4"], {"chain_event": chain_event_ref(tx, 2, "JobAuthorized")}
    )
    tlog.append("job.completed", "system", ["job:5"], {"chain_event": chain_event_ref(tx, 3, "JobCompleted")})
    tlog.append("job.attested", "system", ["job:9"], {"chain_event": chain_event_ref(tx, 9, "JobAttested")})
    events = [
        ChainEvent("JobAuthorized", tx, 2, 10, {"jobId": 4}),
        ChainEvent("JobCompleted", tx, 3, 10, {"jobId": 4}),
        ChainEvent("JobRefunded", tx, 4, 10, {"jobId": 6}),
    ]
    report = verify_entries(export(tlog), [], events)
    assert sorted((f.problem, f.seq) for f in report.errors) == [
        ("changed", 1),
        ("missing-entry", None),
        ("phantom-reference", 2),
    ]
    assert any("JobRefunded of job 6" in f.detail for f in report.errors)
    assert isinstance(report.errors[0], Finding)
