"""The verifier's cross-check of job entries against real ComputeJobs events on Anvil, both ways."""

from __future__ import annotations

import pytest

from contracts import Ledger, deploy
from dx_core.roles import Role
from notarizer.chainview import ChainView
from notarizer.entry import chain_event_ref
from notarizer.log import NewEntry, TransparencyLog
from notarizer.verifier import verify_entries
from tests.contracts.conftest import CID, NODE_FEE, World, attest_all, authorize, h, request_job

pytestmark = [pytest.mark.chain, pytest.mark.database]

KINDS = {
    "JobRequested": "job.requested",
    "JobAuthorized": "job.authorized",
    "JobAttested": "node.attestation",
    "JobCompleted": "job.completed",
}


@pytest.fixture
def job_events(fresh_chain, w3, dev_accounts, chain):
    """A fresh ledger deployment (reverted after the test) with one job requested, authorized, attested."""
    a = dev_accounts
    operator, p1, p2, algo, buyer, n0, n1, n2, reg, relayer = a[:10]
    ledger = Ledger(w3, deploy(w3, operator))
    r = ledger.registry
    for acct, role in (
        (p1, Role.PROVIDER),
        (p2, Role.PROVIDER),
        (algo, Role.ALGORITHM_PROVIDER),
        (buyer, Role.BUYER),
        (n0, Role.COMPUTE_NODE),
        (n1, Role.COMPUTE_NODE),
        (n2, Role.COMPUTE_NODE),
    ):
        r.admit(operator, acct.address, role, h(f"key {acct.address}"), CID)
    r.register_cluster(operator, [n0.address, n1.address, n2.address], CID, h("spu config"), NODE_FEE)
    m = ledger.market
    d1 = m.list_dataset(p1, CID, h("m1"), 10**16, max_uses=5).event("DatasetListed").args["id"]
    d2 = m.list_dataset(p2, CID, h("m2"), 10**16, max_uses=5).event("DatasetListed").args["id"]
    alg = m.list_algorithm(algo, "joint_stats", "1.0", h("code"), CID, 10**15, max_uses=5)
    world = World(
        operator,
        p1,
        p2,
        algo,
        buyer,
        (n0, n1, n2),
        reg,
        relayer,
        a[10],
        a[11],
        a[12],
        d1,
        d2,
        alg.event("AlgorithmListed").args["id"],
    )
    job = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job)
    attest_all(ledger, world, job)
    jobs_address = ledger.deployment.addresses["ComputeJobs"]
    view = ChainView(chain.rpc_url, fresh_chain.notary.address)
    events = view.events(jobs_address, from_block=ledger.deployment.first_block)
    return job, events, view


def log_events(log: TransparencyLog, events, job: int) -> None:
    entries = []
    for k, ev in enumerate(events):
        if k % 2:  # the exchange indexer's flat form
            payload = {
                "event": ev.event,
                "tx_hash": ev.tx_hash,
                "log_index": ev.log_index,
                "args": ev.logged_args(),  # an entry that records arguments records them all
            }
        else:
            payload = {"chain_event": chain_event_ref(ev.tx_hash, ev.log_index, ev.event)}
        entries.append(NewEntry(KINDS[ev.event], "system", [f"job:{job}"], payload))
    log.append_many(entries)


def test_every_job_event_has_its_entry_and_every_reference_its_event(tlog, job_events) -> None:
    job, events, view = job_events
    assert [e.event for e in events][:2] == ["JobRequested", "JobAuthorized"]
    assert {e.event for e in events} >= {"JobAttested", "JobCompleted"}
    log_events(tlog, events, job)
    exported = [e.to_json() for e in tlog.iter_entries()]
    report = verify_entries(exported, [], events, view.log_exists)
    assert report.ok, report.errors
    assert report.chain_events == len(events)


def test_a_missing_entry_and_a_phantom_reference_are_named(tlog, job_events) -> None:
    job, events, view = job_events
    log_events(tlog, [e for e in events if e.event != "JobAuthorized"], job)
    fake = chain_event_ref(events[0].tx_hash, 99, "JobCompleted")
    tlog.append("job.completed", "system", [f"job:{job}"], {"chain_event": fake})
    other = chain_event_ref("0x" + "12" * 32, 0, "MemberAdmitted")
    tlog.append("member.admitted", "system", ["member:0x" + "12" * 20], {"chain_event": other})
    report = verify_entries([e.to_json() for e in tlog.iter_entries()], [], events, view.log_exists)
    got = sorted((f.problem, f.seq) for f in report.errors)
    n = len(events) - 1
    assert got == [("missing-entry", None), ("phantom-reference", n), ("phantom-reference", n + 1)]
    assert any("JobAuthorized" in f.detail for f in report.errors if f.problem == "missing-entry")
