"""Privacy budgets on-chain: requests reserve ε atomically, jobs that never ran give it back, owners only."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import ContractRevert, JobStatus
from contracts.types import MICRO_EPS
from tests.contracts.conftest import attest_all, h, request_job, revert_of
from tests.fixtures.chain import increase_time

pytestmark = [pytest.mark.contracts, pytest.mark.chain]

TOTAL = MICRO_EPS  # ε 1.0
PER_JOB = 400_000  # ε 0.4


def budgeted_dataset(ledger, world, total: int = TOTAL, per_job: int = PER_JOB) -> int:
    market = ledger.market
    ds = market.list_dataset(world.provider1, "bafyb", h("budgeted"), 10).event("DatasetListed").args["id"]
    ev = market.set_privacy_budget(world.provider1, ds, total, per_job).event("PrivacyBudgetSet")
    assert ev.args == {"id": ds, "totalMicroEps": total, "perJobMicroEps": per_job}
    return ds


def approve_all(ledger, world, job_id: int) -> None:
    ledger.jobs.approve(world.provider1, job_id)
    ledger.jobs.approve(world.algo_owner, job_id)


def test_third_job_of_04_on_a_budget_of_1_reverts(ledger, w3, world, chain_snapshot) -> None:
    market = ledger.market
    ds = budgeted_dataset(ledger, world)
    first = request_job(ledger, w3, world, datasets=[ds])
    second = request_job(ledger, w3, world, datasets=[ds])
    assert market.reserved_epsilon(first, ds) == PER_JOB
    assert market.privacy_budget(ds).spent_micro_eps == 2 * PER_JOB
    count = ledger.jobs.job_count()
    err = revert_of(request_job, ledger, w3, world, datasets=[ds])
    assert err.error_name == "PrivacyBudgetExceeded"
    assert err.args_dict == {"datasetId": ds, "requested": PER_JOB, "remaining": TOTAL - 2 * PER_JOB}
    # the whole request reverted: no job, no escrow, nothing more spent
    assert ledger.jobs.job_count() == count
    budget = market.privacy_budget(ds)
    assert (budget.spent_micro_eps, budget.left_micro_eps) == (2 * PER_JOB, TOTAL - 2 * PER_JOB)
    assert budget.describe() == "ε 1.0 total, 0.4 per job, 0.8 spent, 0.2 left"
    assert second != first


def test_a_multi_dataset_job_short_on_one_budget_reserves_nothing(ledger, w3, world, chain_snapshot) -> None:
    market = ledger.market
    ds = budgeted_dataset(ledger, world, total=PER_JOB, per_job=PER_JOB)
    other = budgeted_dataset(ledger, world)
    request_job(ledger, w3, world, datasets=[ds])
    err = revert_of(request_job, ledger, w3, world, datasets=[other, ds])
    assert err.error_name == "PrivacyBudgetExceeded" and err.args_dict["datasetId"] == ds
    assert market.privacy_budget(other).spent_micro_eps == 0


def test_a_declined_job_gives_its_epsilon_back(ledger, w3, world, chain_snapshot) -> None:
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    first = request_job(ledger, w3, world, datasets=[ds])
    request_job(ledger, w3, world, datasets=[ds])
    ev = jobs.decline(world.provider1, first).event("EpsilonReleased")
    assert ev.args == {"jobId": first, "datasetId": ds, "microEps": PER_JOB, "spent": PER_JOB}
    assert market.reserved_epsilon(first, ds) == 0
    # the refunded ε admits a new request, and only one
    request_job(ledger, w3, world, datasets=[ds])
    assert revert_of(request_job, ledger, w3, world, datasets=[ds]).error_name == "PrivacyBudgetExceeded"


def test_a_declined_by_signature_job_gives_its_epsilon_back(ledger, w3, world, chain_snapshot) -> None:
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    job_id = request_job(ledger, w3, world, datasets=[ds])
    signed = jobs.sign_decline(world.provider1, job_id, jobs.next_nonce(world.provider1.address), 2**40)
    jobs.decline_by_sig(world.relayer, job_id, signed)
    assert market.privacy_budget(ds).spent_micro_eps == 0


def test_reclaim_after_deadline_of_an_unran_job_gives_it_back(ledger, w3, world, chain_snapshot) -> None:
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    pending = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    authorized = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    approve_all(ledger, world, authorized)
    assert jobs.job(authorized).status is JobStatus.AUTHORIZED
    increase_time(w3, 200)
    for job_id in (pending, authorized):
        jobs.reclaim(world.buyer, job_id)
        assert market.reserved_epsilon(job_id, ds) == 0
    assert market.privacy_budget(ds).spent_micro_eps == 0


def test_a_job_that_ran_keeps_its_epsilon_spent(ledger, w3, world, chain_snapshot) -> None:
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    completed = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    approve_all(ledger, world, completed)
    attest_all(ledger, world, completed)
    assert jobs.job(completed).status is JobStatus.COMPLETED
    # one node ran it, then the deadline passed: the buyer's refund does not return the ε
    partly = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    approve_all(ledger, world, partly)
    jobs.attest(world.nodes[0], partly, h("in"), jobs.terms(partly).program_hash, h("o0"))
    increase_time(w3, 200)
    reclaimed = jobs.reclaim(world.buyer, partly)
    assert "EpsilonReleased" not in [e.event for e in reclaimed.events]
    assert market.privacy_budget(ds).spent_micro_eps == 2 * PER_JOB
    assert market.reserved_epsilon(completed, ds) == PER_JOB


def test_a_node_refusal_gives_the_epsilon_back(ledger, w3, world, chain_snapshot) -> None:
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    job_id = request_job(ledger, w3, world, datasets=[ds])
    approve_all(ledger, world, job_id)
    jobs.refuse(world.nodes[0], job_id, "privacy-budget")
    assert market.privacy_budget(ds).spent_micro_eps == 0


def test_only_the_owner_sets_a_budget(ledger, world, chain_snapshot) -> None:
    market = ledger.market
    ds = budgeted_dataset(ledger, world)
    err = revert_of(market.set_privacy_budget, world.provider2, ds, 10 * TOTAL, PER_JOB)
    assert err.error_name == "NotListingOwner" and err.args_dict["caller"] == world.provider2.address
    assert market.privacy_budget(ds).total_micro_eps == TOTAL


def test_the_total_never_falls_below_what_is_spent(ledger, w3, world, chain_snapshot) -> None:
    market = ledger.market
    ds = budgeted_dataset(ledger, world)
    request_job(ledger, w3, world, datasets=[ds])
    request_job(ledger, w3, world, datasets=[ds])
    err = revert_of(market.set_privacy_budget, world.provider1, ds, PER_JOB, PER_JOB)
    assert err.error_name == "BudgetBelowSpent"
    assert err.args_dict == {"datasetId": ds, "spent": 2 * PER_JOB, "totalMicroEps": PER_JOB}
    # removing the budget once spent would silently lift the limit: refused the same way
    assert revert_of(market.set_privacy_budget, world.provider1, ds, 0, 0).error_name == "BudgetBelowSpent"
    # exactly what is spent is allowed, and then no further job fits
    market.set_privacy_budget(world.provider1, ds, 2 * PER_JOB, PER_JOB)
    assert revert_of(request_job, ledger, w3, world, datasets=[ds]).error_name == "PrivacyBudgetExceeded"


def test_a_budget_must_be_coherent(ledger, world, chain_snapshot) -> None:
    market = ledger.market
    ds = budgeted_dataset(ledger, world)
    for total, per_job in ((TOTAL, 0), (TOTAL, TOTAL + 1), (0, PER_JOB)):
        err = revert_of(market.set_privacy_budget, world.provider1, ds, total, per_job)
        assert err.error_name == "InvalidPrivacyBudget", (total, per_job)
    assert market.privacy_budget(ds).per_job_micro_eps == PER_JOB


def test_only_compute_jobs_reserves_or_releases(ledger, w3, world, chain_snapshot) -> None:
    market = ledger.market
    ds = budgeted_dataset(ledger, world)
    job_id = request_job(ledger, w3, world, datasets=[ds])
    for attacker in (world.outsider, world.provider1, world.buyer):
        for fn in ("reserveEpsilon", "releaseEpsilon"):
            err = revert_of(market.send, attacker, fn, job_id, [ds])
            assert err.error_name == "OnlyComputeJobs", (attacker.address, fn)
    assert market.reserved_epsilon(job_id, ds) == PER_JOB
    assert market.privacy_budget(ds).spent_micro_eps == PER_JOB


def test_a_dataset_without_a_budget_reserves_nothing(ledger, w3, world, chain_snapshot) -> None:
    market = ledger.market
    job_id = request_job(ledger, w3, world)
    assert market.reserved_epsilon(job_id, world.dataset1) == 0
    budget = market.privacy_budget(world.dataset1)
    assert not budget.enabled and budget.describe() == "none"
    assert market.privacy_budget(10**6) is None


def test_the_node_gate_reads_the_reservation_and_the_events_add_up(ledger, w3, world, chain_snapshot) -> None:
    from mpc_compute.node.policy_gate import PolicyGate

    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    kept = request_job(ledger, w3, world, datasets=[ds, world.dataset2])
    declined = request_job(ledger, w3, world, datasets=[ds])
    jobs.decline(world.provider1, declined)

    def no_documents(cid: str) -> bytes:
        return b""  # no job document is needed here: specs that do not check count no lookups

    gate = PolicyGate(ledger)
    facts, _ = gate.facts(jobs.job(kept), no_documents)
    assert facts.reserved_micro_eps == {ds: PER_JOB}
    # a job whose ε went back still shows what its request reserved: a node checking it after another
    # node's refusal refuses too, instead of running alone
    assert gate.facts(jobs.job(declined), no_documents)[0].reserved_micro_eps == {ds: PER_JOB}
    assert market.reserved_epsilon(declined, ds) == 0
    events = [(e.event, e.args["jobId"], e.args["microEps"]) for e in market.epsilon_events(ds)]
    assert events == [
        ("EpsilonReserved", kept, PER_JOB),
        ("EpsilonReserved", declined, PER_JOB),
        ("EpsilonReleased", declined, PER_JOB),
    ]
    assert market.epsilon_events(world.dataset2) == []


def test_anyone_frees_the_epsilon_of_an_expired_unran_job(ledger, w3, world, chain_snapshot) -> None:
    """A buyer who never reclaims must not lock a listing's budget: past the deadline, with no node's
    attestation, anyone gives the ε back; the escrow stays the buyer's."""
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world)
    pending = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    authorized = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    approve_all(ledger, world, authorized)
    market.set_privacy_budget(world.provider1, ds, 2 * TOTAL, PER_JOB)
    ran = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
    approve_all(ledger, world, ran)
    jobs.attest(world.nodes[0], ran, h("in"), jobs.terms(ran).program_hash, h("o0"))
    err = revert_of(jobs.release_expired_epsilon, world.outsider, pending)
    assert err.error_name == "DeadlineNotReached"
    increase_time(w3, 200)
    for job_id in (pending, authorized):
        ev = jobs.release_expired_epsilon(world.outsider, job_id).event("EpsilonReleased")
        assert ev.args["jobId"] == job_id and ev.args["microEps"] == PER_JOB
    assert revert_of(jobs.release_expired_epsilon, world.outsider, ran).error_name == "RunAlreadyAttested"
    assert market.privacy_budget(ds).spent_micro_eps == PER_JOB  # the job a node ran keeps its ε
    # a second release gives nothing more, and the buyer's reclaim still refunds without double counting
    released = jobs.release_expired_epsilon(world.outsider, pending)
    assert "EpsilonReleased" not in [e.event for e in released.events]
    balance = jobs.balance_of(world.buyer.address)
    jobs.reclaim(world.buyer, authorized)
    assert jobs.balance_of(world.buyer.address) == balance + jobs.terms(authorized).escrow
    assert market.privacy_budget(ds).spent_micro_eps == PER_JOB
    err = revert_of(jobs.release_expired_epsilon, world.outsider, authorized)
    assert err.error_name == "InvalidStatus"


OUTCOMES = ["complete", "decline", "reclaim-unrun", "reclaim-ran", "refuse", "live", "pending", "expired"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=6))
def test_spent_is_what_jobs_that_ran_or_may_run_hold(ledger, w3, world, chain_snapshot, outcomes) -> None:
    """Property: a dataset's spent ε is the per-job ε of every job some node attested plus every job not
    yet ended that could still run; never more than the total; the events add up to it."""
    chain_snapshot()
    market, jobs = ledger.market, ledger.jobs
    ds = budgeted_dataset(ledger, world, total=5 * PER_JOB)
    mine, expired, to_reclaim = [], [], []
    for outcome in outcomes:
        try:
            job_id = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
        except ContractRevert as exc:
            assert exc.error_name == "PrivacyBudgetExceeded"
            assert market.privacy_budget(ds).left_micro_eps < PER_JOB
            continue
        mine.append(job_id)
        program = jobs.terms(job_id).program_hash
        if outcome == "decline":
            jobs.decline(world.provider1, job_id)
            continue
        if outcome in ("pending", "expired"):
            expired += [job_id] if outcome == "expired" else []
            continue
        approve_all(ledger, world, job_id)
        if outcome == "complete":
            for i, node in enumerate(world.nodes):
                jobs.attest(node, job_id, h("in"), program, h(f"o{i}"))
        elif outcome == "refuse":
            jobs.refuse(world.nodes[0], job_id, "privacy-budget")
        elif outcome == "reclaim-ran":
            jobs.attest(world.nodes[2], job_id, h("in"), program, h("o2"))
            to_reclaim.append(job_id)
        elif outcome == "reclaim-unrun":
            to_reclaim.append(job_id)
    if to_reclaim or expired:
        increase_time(w3, 200)
        for job_id in to_reclaim:
            jobs.reclaim(world.buyer, job_id)
        for job_id in expired:
            jobs.release_expired_epsilon(world.outsider, job_id)
    holding = 0
    for job_id in mine:
        job = jobs.job(job_id)
        live = job.status in (JobStatus.REQUESTED, JobStatus.AUTHORIZED) and job_id not in expired
        holds = bool(job.attested_mask) or live
        holding += holds
        assert market.reserved_epsilon(job_id, ds) == (PER_JOB if holds else 0), (job_id, job.status)
    budget = market.privacy_budget(ds)
    assert budget.spent_micro_eps == holding * PER_JOB <= budget.total_micro_eps
    net = sum(
        e.args["microEps"] * (1 if e.event == "EpsilonReserved" else -1) for e in market.epsilon_events(ds)
    )
    assert net == budget.spent_micro_eps
