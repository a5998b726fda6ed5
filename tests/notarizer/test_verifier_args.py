"""The verifier compares every argument of every job event with its log entry, and usage comes from checked
arguments only: entries written by the exchange's own indexer code from real ComputeJobs events on Anvil."""

from __future__ import annotations

import copy

import pytest

from contracts import Ledger, deploy
from dx_core.roles import Role
from exchange_api.chain import jsonable
from exchange_api.indexer.apply import log_entries_for
from exchange_api.models import ChainEvent as EventRow
from notarizer.chainview import ChainView
from notarizer.log import NewEntry, TransparencyLog
from notarizer.usage import dataset_usage, exported_usage
from notarizer.verifier import VIOLATION, Finding, verify_entries
from tests.contracts.conftest import CID, NODE_FEE, World, attest_all, authorize, h, request_job

pytestmark = [pytest.mark.chain, pytest.mark.database]


@pytest.fixture
def job_world(fresh_chain, w3, dev_accounts, chain):
    """A fresh deployment with one job over two datasets requested, authorized and attested; returns
    (job id, dataset ids, the deployment's indexer-form log entries, the chain's job events, view)."""
    a = dev_accounts
    operator, p1, p2, algo, buyer, n0, n1, n2, reg, relayer = a[:10]
    ledger = Ledger(w3, deploy(w3, operator))
    for acct, role in (
        (p1, Role.PROVIDER),
        (p2, Role.PROVIDER),
        (algo, Role.ALGORITHM_PROVIDER),
        (buyer, Role.BUYER),
        (n0, Role.COMPUTE_NODE),
        (n1, Role.COMPUTE_NODE),
        (n2, Role.COMPUTE_NODE),
    ):
        ledger.registry.admit(operator, acct.address, role, h(f"key {acct.address}"), CID)
    ledger.registry.register_cluster(operator, [n0.address, n1.address, n2.address], CID, h("spu"), NODE_FEE)
    m = ledger.market
    d1 = m.list_dataset(p1, CID, h("m1"), 10**16, max_uses=5).event("DatasetListed").args["id"]
    d2 = m.list_dataset(p2, CID, h("m2"), 10**16, max_uses=5).event("DatasetListed").args["id"]
    alg = m.list_algorithm(algo, "joint_stats", "1.0", h("code"), CID, 10**15, max_uses=5)
    world = World(
        operator, p1, p2, algo, buyer, (n0, n1, n2), reg, relayer, a[10], a[11], a[12], d1, d2,
        alg.event("AlgorithmListed").args["id"],
    )
    job = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job)
    attest_all(ledger, world, job)
    first = ledger.deployment.first_block
    entries = []
    for ev in ledger.events(first):  # exactly what exchange_api.indexer.runner logs for each event
        row = EventRow(
            block_number=ev.block_number,
            block_hash=ev.block_hash,
            tx_hash=ev.tx_hash,
            log_index=ev.log_index,
            contract=ev.contract,
            name=ev.event,
            args=jsonable(ev.args),
        )
        entries.extend(log_entries_for(row))
    view = ChainView(chain.rpc_url, fresh_chain.notary.address)
    events = view.events(ledger.deployment.addresses["ComputeJobs"], from_block=first)
    return job, (d1, d2), entries, events, view


def append(log: TransparencyLog, entries: list[dict]) -> list[dict]:
    log.append_many([NewEntry(e["kind"], e["actor"], e["subjects"], e["payload"]) for e in entries])
    return [e.to_json() for e in log.iter_entries()]


def requested(entries: list[dict]) -> dict:
    return next(e for e in entries if e["payload"]["event"] == "JobRequested")


def test_the_indexers_entries_verify_with_every_argument_checked(tlog, job_world) -> None:
    _job, (d1, d2), entries, events, view = job_world
    exported = append(tlog, entries)
    report = verify_entries(exported, [], events, view.log_exists)
    assert report.ok, report.errors
    # every job event's entry was checked in full, the JobRequested one with its terms
    assert sorted(ev.log_index for ev in report.checked.values()) == sorted(ev.log_index for ev in events)
    seq = next(s for s, ev in report.checked.items() if ev.event == "JobRequested")
    assert report.checked_args()[seq]["args"]["terms"]["datasetIds"] == [d1, d2]
    assert report.to_json()["checked_events"] == len(events)


def test_an_entry_whose_dataset_ids_were_altered_is_named_by_argument(tlog, job_world) -> None:
    _job, (d1, d2), entries, events, view = job_world
    forged = copy.deepcopy(entries)
    requested(forged)["payload"]["args"]["terms"]["datasetIds"] = [d1]  # hides d2's use
    exported = append(tlog, forged)
    seq = next(e["seq"] for e in exported if e["kind"] == "job.requested")
    report = verify_entries(exported, [], events, view.log_exists)
    assert not report.ok and not report.integrity_ok
    assert [(f.problem, f.seq) for f in report.errors] == [("argument-mismatch", seq)]
    detail = report.errors[0].detail
    assert "terms.datasetIds" in detail and f"[{d1},{d2}]" in detail and "JobRequested" in detail
    assert seq not in report.checked


def test_a_changed_dropped_or_added_argument_is_each_named(tlog, job_world) -> None:
    _job, _ds, entries, events, view = job_world
    forged = copy.deepcopy(entries)
    args = requested(forged)["payload"]["args"]
    args["buyer"] = "0x" + "66" * 20
    del args["deadline"]
    args["terms"]["note"] = "pre-approved"
    attested = next(e for e in forged if e["payload"]["event"] == "JobAttested")
    attested["payload"]["args"]["programHash"] = "0x" + "00" * 32
    attested["payload"]["block"] += 1
    report = verify_entries(append(tlog, forged), [], events, view.log_exists)
    details = " | ".join(f.detail for f in report.errors)
    assert {f.problem for f in report.errors} == {"argument-mismatch"}
    for needle in (
        "argument buyer:",
        "argument deadline is missing",
        "argument terms.note is not an argument",
        "argument programHash:",
        "block:",
    ):
        assert needle in details, details
    assert len(report.errors) == 5


def test_usage_reports_come_from_checked_arguments_only(tlog, job_world) -> None:
    _job, (d1, d2), entries, events, view = job_world
    forged = copy.deepcopy(entries)
    requested(forged)["payload"]["args"]["terms"]["datasetIds"] = [d1, 999]  # hides d2, claims 999
    exported = append(tlog, forged)
    report = verify_entries(exported, [], events, view.log_exists)
    checked = report.checked_args()
    # the unchecked report believes the entry ...
    assert dataset_usage(tlog, 999)["jobs"] and not dataset_usage(tlog, d2)["jobs"]
    # ... the checked one only the chain: the forged entry names nothing, so no job is attributed
    for usage in (exported_usage(exported, d2, checked), dataset_usage(tlog, d2, checked)):
        assert usage["jobs"] == []
    assert exported_usage(exported, 999, checked)["jobs"] == []


def test_an_honest_usage_report_takes_its_facts_from_the_chain(tlog, job_world) -> None:
    job, (d1, d2), entries, events, view = job_world
    exported = append(tlog, entries)
    report = verify_entries(exported, [], events, view.log_exists)
    for dataset in (d1, d2):
        usage = exported_usage(exported, dataset, report.checked_args())
        assert [j["job_id"] for j in usage["jobs"]] == [job]
        assert usage["uses"] and all(u["checked"] for u in usage["uses"])
        assert usage["jobs"][0]["buyer"] == requested(entries)["payload"]["args"]["buyer"]
        in_log = dataset_usage(tlog, dataset, report.checked_args())
        assert in_log["jobs"][0]["seqs"] == usage["jobs"][0]["seqs"]


def test_the_compliance_check_reports_violations_apart_from_integrity(tlog, job_world) -> None:
    job, _ds, entries, events, view = job_world
    exported = append(tlog, entries)
    seen = {}

    def compliance(jobs):
        seen.update(jobs)
        return [Finding("violation", f"job {j} broke a policy rule") for j in jobs]

    assert verify_entries(exported, [], events, view.log_exists).violations == []
    report = verify_entries(exported, [], events, view.log_exists, compliance)
    assert list(seen) == [job] and [e.event for e in seen[job]][:2] == ["JobRequested", "JobAuthorized"]
    assert [(f.problem, f.category) for f in report.errors] == [("violation", VIOLATION)]
    assert report.integrity_ok and not report.ok and report.to_json()["violations"] == 1
