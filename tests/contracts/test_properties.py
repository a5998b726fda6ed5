"""Property tests: usage counters never pass their limits; escrow is conserved to the wei."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import ContractRevert, JobStatus
from tests.contracts.conftest import h, now, sign_all
from tests.fixtures.chain import increase_time

pytestmark = [pytest.mark.contracts, pytest.mark.chain]

OUTCOMES = ["complete", "dispute", "decline", "reclaim", "pending"]
job_plans = st.lists(
    st.tuples(
        st.sets(st.integers(0, 2), min_size=1, max_size=3),  # which of the three datasets
        st.sampled_from(OUTCOMES),
        st.integers(0, 3),  # extra wei on prices, so amounts differ between runs
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=job_plans, max_uses=st.integers(1, 3))
def test_usage_limits_and_escrow_conservation(ledger, w3, world, chain_snapshot, plans, max_uses) -> None:
    chain_snapshot()  # each example starts from the session state
    jobs, market = ledger.jobs, ledger.market
    initial_balance = w3.eth.get_balance(jobs.address)
    owners = [world.provider1, world.provider2, world.provider1]
    datasets = [
        market.list_dataset(o, "bafyp", h(f"p{i}"), 10**12 + i, max_uses=max_uses)
        .event("DatasetListed")
        .args["id"]
        for i, o in enumerate(owners)
    ]
    limits = dict.fromkeys(datasets, max_uses)
    uses = dict.fromkeys(datasets, 0)
    alg_uses = market.algorithm(world.algorithm).uses
    credits: dict[str, int] = {}
    deposited = 0
    locked: dict[int, int] = {}  # job id -> escrow still held for it
    to_reclaim = []

    for chosen, outcome, extra in plans:
        ids = [datasets[i] for i in sorted(chosen)]
        for ds in ids:
            market.update_dataset(
                owners[datasets.index(ds)], ds, "bafyp", h("p"), 10**12 + extra, max_uses=max_uses
            )
        value = (
            jobs.escrow_for(ids, world.algorithm, world.buyer.address, market)
            if all(uses[d] < limits[d] for d in ids)
            else 0
        )
        if value == 0:
            with pytest.raises(ContractRevert) as info:
                jobs.request(
                    world.buyer, ids, world.algorithm, h("p"), h("prog"), h("key buyer"), now(w3) + 500, 1
                )
            assert info.value.error_name == "UsageLimitReached"
            continue
        job_id = (
            jobs.request(
                world.buyer, ids, world.algorithm, h("p"), h("prog"), h("key buyer"), now(w3) + 500, value
            )
            .event("JobRequested")
            .args["jobId"]
        )
        deposited += value
        locked[job_id] = value
        terms = jobs.terms(job_id)
        if outcome == "decline":
            jobs.decline(
                world.provider1 if world.provider1.address in terms.owners else world.provider2, job_id
            )
            credits[world.buyer.address] = credits.get(world.buyer.address, 0) + locked.pop(job_id)
            continue
        if outcome in ("complete", "dispute", "reclaim"):
            approvers = [
                a for a in (world.provider1, world.provider2, world.algo_owner) if a.address in terms.owners
            ]
            sigs = sign_all(ledger, job_id, approvers, now(w3) + 500)
            # an earlier job may have used the listing up since this one was requested
            if all(uses[d] < limits[d] for d in ids):
                jobs.approve_batch(world.relayer, job_id, sigs)
                for d in ids:
                    uses[d] += 1
                alg_uses += 1
            else:
                with pytest.raises(ContractRevert) as info:
                    jobs.approve_batch(world.relayer, job_id, sigs)
                assert info.value.error_name == "UsageLimitReached"
                to_reclaim.append(job_id)
                continue
        if outcome == "complete":
            for i, node in enumerate(world.nodes):
                jobs.attest(node, job_id, h("in"), terms.program_hash, h(f"o{i}"))
            assert jobs.job(job_id).status is JobStatus.COMPLETED
            locked.pop(job_id)
            for owner, price in zip(terms.owners, terms.prices, strict=True):
                credits[owner] = credits.get(owner, 0) + price
            for node in world.nodes:
                credits[node.address] = credits.get(node.address, 0) + terms.node_fee
        elif outcome == "dispute":
            jobs.attest(world.nodes[0], job_id, h("in"), terms.program_hash, h("o0"))
            jobs.attest(world.nodes[2], job_id, h("different"), terms.program_hash, h("o2"))
            assert jobs.job(job_id).status is JobStatus.DISPUTED
            credits[world.buyer.address] = credits.get(world.buyer.address, 0) + locked.pop(job_id)
        elif outcome == "reclaim":
            to_reclaim.append(job_id)

    for ds in datasets:
        listing = market.dataset(ds)
        assert listing.uses == uses[ds] <= listing.max_uses
    assert market.algorithm(world.algorithm).uses == alg_uses

    if to_reclaim:
        increase_time(w3, 501)
        for job_id in to_reclaim:
            jobs.reclaim(world.buyer, job_id)
            credits[world.buyer.address] = credits.get(world.buyer.address, 0) + locked.pop(job_id)

    # sum of credits + escrow still held == everything deposited; the contract holds exactly that
    assert sum(credits.values()) + sum(locked.values()) == deposited
    start_balance = w3.eth.get_balance(jobs.address)
    assert start_balance == initial_balance + deposited
    everyone = {
        a.address: a for a in (world.buyer, world.provider1, world.provider2, world.algo_owner, *world.nodes)
    }
    paid = 0
    for address, account in everyone.items():
        assert jobs.balance_of(address) == credits.get(address, 0)
        if credits.get(address):
            paid += jobs.withdraw(account).event("Withdrawal").args["amount"]
        with pytest.raises(ContractRevert):
            jobs.withdraw(account)  # a second withdrawal pays nothing
    assert paid == sum(credits.values()) <= deposited
    assert w3.eth.get_balance(jobs.address) == start_balance - paid
