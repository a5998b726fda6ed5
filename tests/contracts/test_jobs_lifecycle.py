"""ComputeJobs happy paths: request, approvals (signed batch, direct, pre-approved), attest, settle."""

from __future__ import annotations

import pytest

from contracts import ContractRevert, JobStatus
from dx_core.roles import Role
from tests.contracts.conftest import (
    NODE_FEE,
    PRICES,
    attest_all,
    authorize,
    h,
    now,
    request_job,
    sign_all,
)
from tests.fixtures.chain import increase_time

pytestmark = [pytest.mark.contracts, pytest.mark.chain]


def test_full_lifecycle_pays_everyone_exactly(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    start_block = w3.eth.block_number + 1
    escrow = PRICES["d1"] + PRICES["d2"] + PRICES["alg"] + 3 * NODE_FEE
    contract_before = w3.eth.get_balance(jobs.address)
    job_id = request_job(ledger, w3, world)
    assert w3.eth.get_balance(jobs.address) == contract_before + escrow

    job = jobs.job(job_id)
    assert job.status is JobStatus.REQUESTED
    assert job.buyer == world.buyer.address
    assert job.dataset_ids == (world.dataset1, world.dataset2) and job.algorithm_id == world.algorithm
    assert job.terms.owners == (world.provider1.address, world.provider2.address, world.algo_owner.address)
    assert job.terms.prices == (PRICES["d1"], PRICES["d2"], PRICES["alg"])
    assert job.escrow == escrow and job.pending_mask == 0b111
    assert job.program_hash == h("program") and job.terms.result_receiver == world.buyer.address

    uses_before = ledger.market.dataset(world.dataset1).uses
    authorize(ledger, w3, world, job_id)
    assert jobs.job(job_id).status is JobStatus.AUTHORIZED
    assert ledger.market.dataset(world.dataset1).uses == uses_before + 1
    assert ledger.market.algorithm(world.algorithm).uses == 1

    attest_all(ledger, world, job_id)
    job = jobs.job(job_id)
    assert job.status is JobStatus.COMPLETED and job.attested_mask == 0b111
    assert jobs.inputs_digest(job_id) == h("inputs")
    assert jobs.output_share_hashes(job_id) == {i: h(f"output share {i}") for i in range(3)}

    payees = {
        world.provider1: PRICES["d1"],
        world.provider2: PRICES["d2"],
        world.algo_owner: PRICES["alg"],
        **{node: NODE_FEE for node in world.nodes},
    }
    for account, amount in payees.items():
        assert jobs.balance_of(account.address) == amount
        before = w3.eth.get_balance(account.address)
        result = jobs.withdraw(account)
        receipt = w3.eth.get_transaction_receipt(result.tx_hash)
        gas_cost = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert w3.eth.get_balance(account.address) == before + amount - gas_cost
        assert result.event("Withdrawal").args == {"account": account.address, "amount": amount}
        assert jobs.balance_of(account.address) == 0
    assert w3.eth.get_balance(jobs.address) == contract_before
    assert jobs.balance_of(world.buyer.address) == 0

    for i, node in enumerate(world.nodes):
        ev = jobs.attest_destruction(node, job_id, h(f"receipt {i}")).event("DestructionAttested")
        assert ev.args["nodeIndex"] == i and ev.args["receiptHash"] == h(f"receipt {i}")
    assert jobs.job(job_id).destroyed_mask == 0b111

    names = [(e.contract, e.event) for e in ledger.events(start_block)]
    assert names[0] == ("ComputeJobs", "JobRequested")
    assert names.count(("ComputeJobs", "JobApproved")) == 3
    assert ("Market", "DatasetUsed") in names and ("Market", "AlgorithmUsed") in names
    assert names.index(("ComputeJobs", "JobAuthorized")) < names.index(("ComputeJobs", "JobAttested"))
    assert names.count(("ComputeJobs", "JobAttested")) == 3
    assert names.count(("ComputeJobs", "JobCompleted")) == 1
    assert names.count(("ComputeJobs", "Withdrawal")) == 6
    assert names.count(("ComputeJobs", "DestructionAttested")) == 3
    events = ledger.events(start_block)
    assert events == sorted(events, key=lambda e: (e.block_number, e.log_index))


def test_direct_approvals_and_owner_of_two_listings(ledger, w3, world, chain_snapshot) -> None:
    # buyer2 is also a provider: a dataset it owns needs no approval from itself
    own = ledger.market.list_dataset(world.buyer2, "bafyown", h("own"), 7).event("DatasetListed").args["id"]
    job_id = request_job(ledger, w3, world, buyer=world.buyer2, datasets=[own, world.dataset1])
    assert ledger.jobs.job(job_id).pending_mask == 0b110
    ev = ledger.jobs.approve(world.provider1, job_id).event("JobApproved")
    assert ev.args == {"jobId": job_id, "owner": world.provider1.address, "bySignature": False, "nonce": 0}
    assert ledger.jobs.job(job_id).status is JobStatus.REQUESTED
    result = ledger.jobs.approve(world.algo_owner, job_id)
    assert [e.event for e in result.events][-1] == "JobAuthorized"
    assert ledger.jobs.job(job_id).status is JobStatus.AUTHORIZED


def test_pre_approved_policies_skip_approvals(ledger, w3, world, chain_snapshot) -> None:
    ledger.market.set_buyer_policy(world.provider1, world.dataset1, [world.buyer.address])
    ledger.market.set_algorithm_policy(world.provider2, world.dataset2, [world.algorithm])
    assert ledger.market.is_buyer_pre_approved(world.dataset1, world.buyer.address)
    assert ledger.market.is_algorithm_pre_approved(world.dataset2, world.algorithm)
    job_id = request_job(ledger, w3, world)
    assert ledger.jobs.job(job_id).pending_mask == 0b100  # only the algorithm owner
    sig = sign_all(ledger, job_id, [world.algo_owner], now(w3) + 60)
    ledger.jobs.approve_batch(world.relayer, job_id, sig)
    assert ledger.jobs.job(job_id).status is JobStatus.AUTHORIZED
    # revoking the policy brings the approval back for the next job
    ledger.market.set_buyer_policy(world.provider1, world.dataset1, [world.buyer.address], pre_approved=False)
    assert ledger.jobs.job(request_job(ledger, w3, world)).pending_mask == 0b101


def test_fully_pre_approved_job_is_authorized_at_request(ledger, w3, world, chain_snapshot) -> None:
    ledger.registry.set_roles(
        world.operator, world.buyer2.address, Role.BUYER | Role.PROVIDER | Role.ALGORITHM_PROVIDER
    )
    own = ledger.market.list_dataset(world.buyer2, "bafyown", h("own"), 7).event("DatasetListed").args["id"]
    alg = ledger.market.list_algorithm(world.buyer2, "mine", "1", h("c2"), "bafyalg", 3)
    alg_id = alg.event("AlgorithmListed").args["id"]
    ledger.market.set_buyer_policy(world.provider1, world.dataset1, [world.buyer2.address])
    job_id = request_job(
        ledger, w3, world, buyer=world.buyer2, datasets=[own, world.dataset1], algorithm=alg_id
    )
    job = ledger.jobs.job(job_id)
    assert job.status is JobStatus.AUTHORIZED and job.pending_mask == 0
    assert ledger.market.dataset(own).uses == 1 and ledger.market.algorithm(alg_id).uses == 1


def test_regulator_as_result_receiver(ledger, w3, world, chain_snapshot) -> None:
    job_id = request_job(ledger, w3, world, receiver=world.regulator.address)
    assert ledger.jobs.terms(job_id).result_receiver == world.regulator.address


def test_decline_refunds_buyer(ledger, w3, world, chain_snapshot) -> None:
    job_id = request_job(ledger, w3, world)
    ledger.jobs.approve(world.provider1, job_id)
    ev = ledger.jobs.decline(world.provider2, job_id).event("JobDeclined")
    escrow = ledger.jobs.terms(job_id).escrow
    assert ev.args == {"jobId": job_id, "owner": world.provider2.address, "refund": escrow}
    assert ledger.jobs.job(job_id).status is JobStatus.DECLINED
    assert ledger.jobs.balance_of(world.buyer.address) == escrow
    assert ledger.jobs.withdraw(world.buyer).event("Withdrawal").args["amount"] == escrow


def test_decline_by_signature(ledger, w3, world, chain_snapshot) -> None:
    job_id = request_job(ledger, w3, world)
    signed = ledger.jobs.sign_decline(world.algo_owner, job_id, 77, now(w3) + 60)
    ledger.jobs.decline_by_sig(world.relayer, job_id, signed)
    assert ledger.jobs.job(job_id).status is JobStatus.DECLINED
    assert ledger.jobs.nonce_used(world.algo_owner.address, 77)


def test_reclaim_after_deadline(ledger, w3, world, chain_snapshot) -> None:
    requested = request_job(ledger, w3, world, deadline_in=100)
    authorized = request_job(ledger, w3, world, deadline_in=100)
    authorize(ledger, w3, world, authorized)
    increase_time(w3, 101)
    for job_id in (requested, authorized):
        ev = ledger.jobs.reclaim(world.buyer, job_id).event("JobRefunded")
        assert ev.args["refund"] == ledger.jobs.terms(job_id).escrow
        assert ledger.jobs.job(job_id).status is JobStatus.REFUNDED
    total = sum(ledger.jobs.terms(j).escrow for j in (requested, authorized))
    assert ledger.jobs.balance_of(world.buyer.address) == total


def test_disagreeing_digest_disputes_and_refunds(ledger, w3, world, chain_snapshot) -> None:
    job_id = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job_id)
    program = ledger.jobs.terms(job_id).program_hash
    ledger.jobs.attest(world.nodes[0], job_id, h("inputs"), program, h("o0"))
    result = ledger.jobs.attest(world.nodes[1], job_id, h("other inputs"), program, h("o1"))
    ev = result.event("JobDisputed")
    assert ev.args["expectedDigest"] == h("inputs") and ev.args["attestedDigest"] == h("other inputs")
    assert ledger.jobs.job(job_id).status is JobStatus.DISPUTED
    assert ledger.jobs.balance_of(world.buyer.address) == ledger.jobs.terms(job_id).escrow
    assert all(ledger.jobs.balance_of(n.address) == 0 for n in world.nodes)
    # nodes that attested still attest destruction
    ledger.jobs.attest_destruction(world.nodes[1], job_id, h("receipt"))


def test_client_signed_transactions_relayed_raw(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    ids = [world.dataset1]
    value = jobs.escrow_for(ids, world.algorithm, world.buyer.address, ledger.market)
    tx = jobs.build_request(
        world.buyer.address, ids, world.algorithm, h("p"), h("prog"), h("key buyer"), now(w3) + 600, value
    )
    assert tx["from"] == world.buyer.address and tx["value"] == value and tx["to"] == jobs.address
    result = ledger.send_raw(world.buyer.sign_transaction(tx).raw_transaction)
    job_id = result.event("JobRequested").args["jobId"]
    for owner in (world.provider1, world.algo_owner):
        ledger.send_raw(owner.sign_transaction(jobs.build_approve(owner.address, job_id)).raw_transaction)
    assert jobs.job(job_id).status is JobStatus.AUTHORIZED
    # a revert is reported before anything is signed
    with pytest.raises(ContractRevert, match=r"InvalidStatus\(jobId=\d+, status=2\)"):
        jobs.build_approve(world.provider1.address, job_id)


def test_concurrent_attestations_have_gas_for_completing(ledger, w3, world, chain_snapshot) -> None:
    # Both remaining nodes build their transaction before either lands: each estimate sees a middle
    # attestation, yet whichever lands last completes the job and credits six payees.
    jobs = ledger.jobs
    job_id = request_job(ledger, w3, world)
    authorize(ledger, w3, world, job_id)
    program = jobs.terms(job_id).program_hash
    jobs.attest(world.nodes[0], job_id, h("inputs"), program, h("o0"))
    raws = []
    for i in (1, 2):
        node = world.nodes[i]
        tx = jobs.build(
            "attest",
            job_id,
            jobs.terms(job_id).as_tuple(),
            h("inputs"),
            program,
            h(f"o{i}"),
            jobs.terms(job_id).policy_digest,
            sender=node.address,
        )
        raws.append(node.sign_transaction(tx).raw_transaction)
    results = [ledger.send_raw(raw) for raw in raws]
    assert [e.event for e in results[1].events][-1] == "JobCompleted"
    assert jobs.job(job_id).status is JobStatus.COMPLETED
    assert all(jobs.balance_of(n.address) > 0 for n in world.nodes)
