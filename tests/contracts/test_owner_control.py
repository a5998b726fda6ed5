"""Owner control on-chain: policies bound at request, node refusals, uses back from jobs that never ran."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import JobStatus
from tests.contracts.conftest import authorize, h, request_job, revert_of
from tests.fixtures.chain import increase_time

pytestmark = [pytest.mark.contracts, pytest.mark.chain]


def test_job_binds_the_policy_in_force_at_request(ledger, w3, world, chain_snapshot) -> None:
    market = ledger.market
    market.update_dataset(
        world.provider1, world.dataset1, "bafyd", h("m1"), 10, policy_hash=h("strict policy")
    )
    job_id = request_job(ledger, w3, world)
    terms = ledger.jobs.terms(job_id)
    assert terms.policy_hashes == (h("strict policy"), bytes(market.dataset(world.dataset2).policy_hash))
    # the owner loosens the policy after the request: the old approvals must not authorize under it
    market.update_dataset(
        world.provider1, world.dataset1, "bafyd", h("m1"), 10, policy_hash=h("loose policy")
    )
    err = revert_of(authorize, ledger, w3, world, job_id)
    assert err.error_name == "PolicyChanged"
    assert err.args_dict == {
        "datasetId": world.dataset1,
        "atRequest": h("strict policy"),
        "current": h("loose policy"),
    }
    assert ledger.jobs.job(job_id).status is JobStatus.REQUESTED
    assert market.dataset(world.dataset1).uses == 0


def test_attestation_carries_the_policies_the_job_binds(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    job_id = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job_id)
    program = jobs.terms(job_id).program_hash
    err = revert_of(jobs.attest, world.nodes[0], job_id, h("in"), program, h("o0"), h("other policies"))
    assert err.error_name == "PolicyDigestMismatch"
    attested = jobs.attest(world.nodes[0], job_id, h("in"), program, h("o0"))
    assert attested.event("JobAttested").args["policyDigest"] == jobs.terms(job_id).policy_digest
    assert jobs.attestations(job_id)[0].policy_digest == jobs.terms(job_id).policy_digest


def test_a_node_refusal_ends_the_job_refunds_and_returns_uses(ledger, w3, world, chain_snapshot) -> None:
    jobs, market = ledger.jobs, ledger.market
    before = (market.dataset(world.dataset1).uses, market.algorithm(world.algorithm).uses)
    balance = jobs.balance_of(world.buyer.address)
    job_id = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job_id)
    assert market.dataset(world.dataset1).uses == before[0] + 1
    # only a node of the job's cluster may refuse
    assert revert_of(jobs.refuse, world.outsider, job_id, "min-group-size").error_name == "NotComputeNode"
    refused = jobs.refuse(world.nodes[1], job_id, "min-group-size")
    ev = refused.event("JobRefused")
    assert ev.args["rule"] == "min-group-size" and ev.args["nodeIndex"] == 1
    assert ev.args["refund"] == jobs.terms(job_id).escrow
    assert jobs.job(job_id).status is JobStatus.REFUSED
    assert jobs.balance_of(world.buyer.address) == balance + jobs.terms(job_id).escrow
    assert (market.dataset(world.dataset1).uses, market.algorithm(world.algorithm).uses) == before
    # the other nodes find it refused; nothing more can happen to it
    assert revert_of(jobs.refuse, world.nodes[2], job_id, "x").error_name == "InvalidStatus"
    program = jobs.terms(job_id).program_hash
    assert (
        revert_of(jobs.attest, world.nodes[0], job_id, h("in"), program, h("o")).error_name == "InvalidStatus"
    )


def test_no_refusal_once_a_node_ran_the_job(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    job_id = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job_id)
    jobs.attest(world.nodes[0], job_id, h("in"), jobs.terms(job_id).program_hash, h("o0"))
    assert revert_of(jobs.refuse, world.nodes[1], job_id, "late").error_name == "RunAlreadyAttested"


OUTCOMES = ["complete", "decline", "reclaim-unrun", "reclaim-ran", "refuse", "live", "pending"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=5))
def test_uses_count_jobs_that_ran_or_are_live(ledger, w3, world, chain_snapshot, outcomes) -> None:
    """Property: a listing's uses equal the jobs some node attested plus the authorized ones not yet ended."""
    chain_snapshot()
    jobs, market = ledger.jobs, ledger.market
    ds = market.list_dataset(world.provider1, "bafyu", h("u"), 10).event("DatasetListed").args["id"]
    alg_before = market.algorithm(world.algorithm).uses
    to_reclaim = []
    for outcome in outcomes:
        job_id = request_job(ledger, w3, world, datasets=[ds], deadline_in=120)
        program = jobs.terms(job_id).program_hash
        if outcome == "decline":
            jobs.decline(world.provider1, job_id)
            continue
        if outcome == "pending":
            continue
        jobs.approve(world.provider1, job_id)
        jobs.approve(world.algo_owner, job_id)
        if outcome == "complete":
            for i, node in enumerate(world.nodes):
                jobs.attest(node, job_id, h("in"), program, h(f"o{i}"))
        elif outcome == "refuse":
            jobs.refuse(world.nodes[0], job_id, "column-rule")
        elif outcome == "reclaim-ran":
            jobs.attest(world.nodes[2], job_id, h("in"), program, h("o2"))
            to_reclaim.append(job_id)
        elif outcome == "reclaim-unrun":
            to_reclaim.append(job_id)
    if to_reclaim:
        increase_time(w3, 200)
        for job_id in to_reclaim:
            jobs.reclaim(world.buyer, job_id)
    ran_or_live = 0
    for job_id in range(1, jobs.job_count() + 1):
        job = jobs.job(job_id)
        if ds not in job.dataset_ids:
            continue
        # live: authorized and not ended (a job past its deadline is live until the buyer reclaims it)
        ran_or_live += bool(job.attested_mask) or job.status is JobStatus.AUTHORIZED
    assert market.dataset(ds).uses == ran_or_live
    assert market.algorithm(world.algorithm).uses - alg_before == ran_or_live
