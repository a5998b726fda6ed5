"""ComputeJobs refuses what it must: outsiders, bad signatures, replays, overuse, wrong nodes and programs."""

from __future__ import annotations

import dataclasses

import pytest

from contracts import JobStatus, eip712
from tests.contracts.conftest import attest_all, authorize, h, now, request_job, revert_of, sign_all
from tests.fixtures.chain import increase_time

pytestmark = [pytest.mark.contracts, pytest.mark.chain]


# ---------------------------------------------------------------- requests


def test_non_member_and_suspended_buyer_cannot_request(ledger, w3, world, chain_snapshot) -> None:
    err = revert_of(request_job, ledger, w3, world, buyer=world.outsider)
    assert (err.contract, err.error_name) == ("ComputeJobs", "NotActiveMember")
    assert err.args_dict == {"account": world.outsider.address, "role": 4}
    ledger.registry.suspend(world.operator, world.buyer.address)
    err = revert_of(request_job, ledger, w3, world)
    assert err.error_name == "NotActiveMember" and err.args_dict["account"] == world.buyer.address
    ledger.registry.reinstate(world.operator, world.buyer.address)
    assert request_job(ledger, w3, world) >= 1


def test_request_checks_payment_receiver_deadline_hashes(ledger, w3, world, chain_snapshot) -> None:
    escrow = ledger.jobs.escrow_for([world.dataset1], world.algorithm, world.buyer.address, ledger.market)
    err = revert_of(request_job, ledger, w3, world, datasets=[world.dataset1], value_delta=-1)
    assert str(err) == f"ComputeJobs.WrongPayment(expected={escrow}, received={escrow - 1})"
    err = revert_of(request_job, ledger, w3, world, datasets=[world.dataset1], value_delta=1)
    assert err.error_name == "WrongPayment"
    err = revert_of(request_job, ledger, w3, world, receiver=world.outsider.address)
    assert str(err) == f"ComputeJobs.InvalidResultReceiver(receiver={world.outsider.address})"
    # result redirection: a regulator's job sealed to the buyer's own key, or any key not registered
    err = revert_of(
        request_job, ledger, w3, world, receiver=world.regulator.address, result_key=h("key buyer")
    )
    assert err.error_name == "ResultKeyMismatch"
    assert err.args_dict["registered"] == h("key regulator") and err.args_dict["given"] == h("key buyer")
    err = revert_of(request_job, ledger, w3, world, result_key=h("an unregistered key"))
    assert err.error_name == "ResultKeyMismatch"
    err = revert_of(request_job, ledger, w3, world, deadline_in=-5)
    assert err.error_name == "DeadlineInPast"
    err = revert_of(
        ledger.jobs.request,
        world.buyer,
        [world.dataset1],
        world.algorithm,
        h("p"),
        b"\0" * 32,
        h("key buyer"),
        now(w3) + 60,
        escrow,
    )
    assert str(err) == "ComputeJobs.InvalidHash(field='programHash')"
    err = revert_of(request_job, ledger, w3, world, datasets=[world.dataset1, world.dataset1])
    assert str(err) == f"Market.DuplicateDataset(datasetId={world.dataset1})"
    err = revert_of(request_job, ledger, w3, world, datasets=[999])
    assert str(err) == "Market.DatasetNotFound(datasetId=999)"


def test_buying_past_max_uses(ledger, w3, world, chain_snapshot) -> None:
    once = ledger.market.list_dataset(world.provider1, "bafyonce", h("once"), 5, max_uses=1)
    ds = once.event("DatasetListed").args["id"]
    first = request_job(ledger, w3, world, datasets=[ds])
    second = request_job(ledger, w3, world, datasets=[ds])  # both fit while nothing is used yet
    ledger.jobs.approve(world.provider1, first)
    ledger.jobs.approve(world.algo_owner, first)
    assert ledger.market.dataset(ds).uses == 1
    # a new request is refused outright
    err = revert_of(request_job, ledger, w3, world, datasets=[ds])
    assert str(err) == f"Market.UsageLimitReached(listingId={ds}, uses=1, maxUses=1)"
    # authorizing the second pending job reverts atomically: no approval or use is recorded
    ledger.jobs.approve(world.provider1, second)
    err = revert_of(ledger.jobs.approve, world.algo_owner, second)
    assert str(err) == f"Market.UsageLimitReached(listingId={ds}, uses=1, maxUses=1)"
    assert ledger.jobs.job(second).status is JobStatus.REQUESTED
    assert ledger.jobs.job(second).pending_mask == 0b10
    assert ledger.market.algorithm(world.algorithm).uses == 1


def test_buying_after_expiry_or_delisting(ledger, w3, world, chain_snapshot) -> None:
    short = ledger.market.list_dataset(world.provider1, "bafyshort", h("short"), 5, expires_at=now(w3) + 100)
    ds = short.event("DatasetListed").args["id"]
    pending = request_job(ledger, w3, world, datasets=[ds])
    increase_time(w3, 101)
    err = revert_of(request_job, ledger, w3, world, datasets=[ds])
    assert err.error_name == "DatasetExpired" and err.args_dict["datasetId"] == ds
    ledger.jobs.approve(world.provider1, pending)
    err = revert_of(ledger.jobs.approve, world.algo_owner, pending)
    assert err.error_name == "DatasetExpired"
    # delisted listings can neither be requested nor authorized
    job_id = request_job(ledger, w3, world)
    ledger.market.delist_dataset(world.provider2, world.dataset2)
    err = revert_of(request_job, ledger, w3, world)
    assert str(err) == f"Market.DatasetNotActive(datasetId={world.dataset2})"
    err = revert_of(authorize, ledger, w3, world, job_id)
    assert err.error_name == "DatasetNotActive"


def test_only_compute_jobs_counts_uses(ledger, world, chain_snapshot) -> None:
    err = revert_of(
        ledger.market.send, world.outsider, "consume", [world.dataset1], world.algorithm, [b"\0" * 32]
    )
    assert str(err) == f"Market.OnlyComputeJobs(caller={world.outsider.address})"
    # nor can anyone else give uses back
    err = revert_of(ledger.market.send, world.outsider, "release", [world.dataset1], world.algorithm)
    assert str(err) == f"Market.OnlyComputeJobs(caller={world.outsider.address})"


# ---------------------------------------------------------------- approvals


def _signed_with_domain(ledger, owner, job_id, domain, nonce, deadline):
    program = ledger.jobs.terms(job_id).program_hash
    return eip712.sign_approval(owner, domain, job_id, program, nonce, deadline)


def test_approval_for_another_job_chain_or_contract_fails(ledger, w3, world, chain_snapshot) -> None:
    job_a = request_job(ledger, w3, world, program="A")
    job_b = request_job(ledger, w3, world, program="B")
    deadline = now(w3) + 600
    owner = world.provider1
    good = ledger.jobs.domain()
    forged = {
        "another job": ledger.jobs.sign_approval(owner, job_b, 1, deadline),
        "another chain": _signed_with_domain(
            ledger, owner, job_a, dataclasses.replace(good, chain_id=1), 1, deadline
        ),
        "another contract": _signed_with_domain(
            ledger,
            owner,
            job_a,
            dataclasses.replace(good, verifying_contract=ledger.market.address),
            1,
            deadline,
        ),
        "another program": eip712.sign_approval(owner, good, job_a, h("B"), 1, deadline),
        "another name": _signed_with_domain(
            ledger, owner, job_a, dataclasses.replace(good, name="x"), 1, deadline
        ),
    }
    for label, sig in forged.items():
        err = revert_of(ledger.jobs.approve_batch, world.relayer, job_a, [sig])
        assert err.error_name == "InvalidSigner", label
        assert err.args_dict["owner"] == owner.address and err.args_dict["signer"] != owner.address, label
    assert ledger.jobs.job(job_a).pending_mask == 0b111
    assert not ledger.jobs.nonce_used(owner.address, 1)
    # the same owner's genuine signature works
    ledger.jobs.approve_batch(world.relayer, job_a, [ledger.jobs.sign_approval(owner, job_a, 1, deadline)])
    assert ledger.jobs.job(job_a).pending_mask == 0b110


def test_replayed_expired_and_impersonated_approvals(ledger, w3, world, chain_snapshot) -> None:
    job_a = request_job(ledger, w3, world)
    job_b = request_job(ledger, w3, world)
    deadline = now(w3) + 600
    sig = ledger.jobs.sign_approval(world.provider1, job_a, 5, deadline)
    ledger.jobs.approve_batch(world.relayer, job_a, [sig])
    err = revert_of(ledger.jobs.approve_batch, world.relayer, job_a, [sig])
    assert str(err) == f"ComputeJobs.NonceAlreadyUsed(owner={world.provider1.address}, nonce=5)"
    # the nonce is spent for every job, not just the one it was used on
    reuse = ledger.jobs.sign_approval(world.provider1, job_b, 5, deadline)
    assert (
        revert_of(ledger.jobs.approve_batch, world.relayer, job_b, [reuse]).error_name == "NonceAlreadyUsed"
    )
    # expired
    stale = ledger.jobs.sign_approval(world.provider1, job_b, 6, now(w3) - 1)
    err = revert_of(ledger.jobs.approve_batch, world.relayer, job_b, [stale])
    assert err.error_name == "SignatureExpired" and err.args_dict["owner"] == world.provider1.address
    # a signature made by someone else but claiming to be the owner's
    typed = eip712.approval_typed_data(
        ledger.jobs.domain(),
        job_b,
        ledger.jobs.terms(job_b).program_hash,
        world.provider1.address,
        7,
        deadline,
    )
    forged = world.outsider.sign_message(eip712.encode_typed_data(full_message=typed))
    fake = eip712.SignedMessage.from_signature(world.provider1.address, 7, deadline, forged.signature)
    assert eip712.recover_signer(typed, forged.signature) == world.outsider.address
    err = revert_of(ledger.jobs.approve_batch, world.relayer, job_b, [fake])
    assert err.args_dict == {"owner": world.provider1.address, "signer": world.outsider.address}
    # an owner may burn a nonce to cancel a signature it handed out
    handed_out = ledger.jobs.sign_approval(world.provider1, job_b, 8, deadline)
    ledger.jobs.invalidate_nonce(world.provider1, 8)
    assert (
        revert_of(ledger.jobs.approve_batch, world.relayer, job_b, [handed_out]).error_name
        == "NonceAlreadyUsed"
    )


def test_batch_is_atomic_and_approvers_must_be_pending_and_active(ledger, w3, world, chain_snapshot) -> None:
    job_id = request_job(ledger, w3, world)
    deadline = now(w3) + 600
    good = sign_all(ledger, job_id, [world.provider1, world.provider2], deadline)
    outsider = ledger.jobs.sign_approval(world.outsider, job_id, 0, deadline)
    err = revert_of(ledger.jobs.approve_batch, world.relayer, job_id, [*good, outsider])
    assert str(err) == f"ComputeJobs.NotPendingApprover(jobId={job_id}, owner={world.outsider.address})"
    assert ledger.jobs.job(job_id).pending_mask == 0b111
    assert not ledger.jobs.nonce_used(world.provider1.address, good[0].nonce)
    # approving twice is refused
    ledger.jobs.approve(world.provider1, job_id)
    assert revert_of(ledger.jobs.approve, world.provider1, job_id).error_name == "NotPendingApprover"
    # a suspended owner cannot approve, directly or by signature
    ledger.registry.suspend(world.operator, world.provider2.address)
    err = revert_of(ledger.jobs.approve, world.provider2, job_id)
    assert str(err) == f"ComputeJobs.NotActiveMember(account={world.provider2.address}, role=0)"
    assert (
        revert_of(ledger.jobs.approve_batch, world.relayer, job_id, [good[1]]).error_name == "NotActiveMember"
    )


def test_decline_rules(ledger, w3, world, chain_snapshot) -> None:
    job_id = request_job(ledger, w3, world)
    ledger.jobs.approve(world.provider1, job_id)
    assert revert_of(ledger.jobs.decline, world.provider1, job_id).error_name == "NotPendingApprover"
    assert revert_of(ledger.jobs.decline, world.outsider, job_id).error_name == "NotPendingApprover"
    expired = ledger.jobs.sign_decline(world.provider2, job_id, 3, now(w3) - 1)
    assert (
        revert_of(ledger.jobs.decline_by_sig, world.relayer, job_id, expired).error_name == "SignatureExpired"
    )
    authorize_rest = sign_all(ledger, job_id, [world.provider2, world.algo_owner], now(w3) + 60)
    ledger.jobs.approve_batch(world.relayer, job_id, authorize_rest)
    err = revert_of(ledger.jobs.decline, world.provider2, job_id)
    assert str(err) == f"ComputeJobs.InvalidStatus(jobId={job_id}, status=2)"


# ---------------------------------------------------------------- attestations


def test_attestation_attacks(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    job_id = request_job(ledger, w3, world)
    program = jobs.terms(job_id).program_hash
    n0, n1, n2 = world.nodes
    err = revert_of(jobs.attest, n0, job_id, h("inputs"), program, h("o"))
    assert str(err) == f"ComputeJobs.InvalidStatus(jobId={job_id}, status=1)"
    authorize(ledger, w3, world, job_id)
    for intruder in (world.outsider, world.spare_node, world.buyer):
        err = revert_of(jobs.attest, intruder, job_id, h("inputs"), program, h("o"))
        assert str(err) == f"Registry.NotComputeNode(account={intruder.address})"
    err = revert_of(jobs.attest, n0, job_id, h("inputs"), h("another program"), h("o"))
    assert err.error_name == "ProgramHashMismatch"
    assert err.args_dict == {"jobId": job_id, "expected": program, "attested": h("another program")}
    jobs.attest(n0, job_id, h("inputs"), program, h("o0"))
    err = revert_of(jobs.attest, n0, job_id, h("inputs"), program, h("o0"))
    assert str(err) == f"ComputeJobs.AlreadyAttested(jobId={job_id}, node={n0.address})"
    # a suspended node is no longer a node
    ledger.registry.suspend(world.operator, n1.address)
    assert revert_of(jobs.attest, n1, job_id, h("inputs"), program, h("o1")).error_name == "NotComputeNode"
    ledger.registry.reinstate(world.operator, n1.address)
    # tampered terms (a higher price to credit) do not match the stored hash
    terms = jobs.terms(job_id)
    tampered = dataclasses.replace(terms, prices=(terms.prices[0] * 10, *terms.prices[1:]))
    err = revert_of(
        jobs.send,
        n1,
        "attest",
        job_id,
        tampered.as_tuple(),
        h("inputs"),
        program,
        h("o1"),
        terms.policy_digest,
    )
    assert str(err) == f"ComputeJobs.TermsMismatch(jobId={job_id})"
    # destruction only after one's own attestation, and only once
    err = revert_of(jobs.attest_destruction, n1, job_id, h("r"))
    assert str(err) == f"ComputeJobs.NotAttested(jobId={job_id}, node={n1.address})"
    jobs.attest_destruction(n0, job_id, h("r"))
    assert revert_of(jobs.attest_destruction, n0, job_id, h("r")).error_name == "DestructionAlreadyAttested"
    jobs.attest(n1, job_id, h("inputs"), program, h("o1"))
    jobs.attest(n2, job_id, h("inputs"), program, h("o2"))
    assert jobs.job(job_id).status is JobStatus.COMPLETED
    err = revert_of(jobs.attest, n2, job_id, h("inputs"), program, h("o2"))
    assert err.error_name == "InvalidStatus"


def test_reclaim_and_withdraw_rules(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    job_id = request_job(ledger, w3, world, deadline_in=300)
    deadline = jobs.job(job_id).deadline
    err = revert_of(jobs.reclaim, world.buyer, job_id)
    assert err.error_name == "DeadlineNotReached" and err.args_dict["deadline"] == deadline
    increase_time(w3, 301)
    assert str(revert_of(jobs.reclaim, world.outsider, job_id)) == (
        f"ComputeJobs.NotBuyer(jobId={job_id}, caller={world.outsider.address})"
    )
    jobs.reclaim(world.buyer, job_id)
    assert revert_of(jobs.reclaim, world.buyer, job_id).error_name == "InvalidStatus"
    # completed jobs cannot be reclaimed after their deadline either
    done = request_job(ledger, w3, world, deadline_in=300)
    authorize(ledger, w3, world, done)
    attest_all(ledger, world, done)
    increase_time(w3, 301)
    assert revert_of(jobs.reclaim, world.buyer, done).error_name == "InvalidStatus"
    # withdrawing twice pays nothing the second time
    refund = jobs.terms(job_id).escrow
    assert jobs.withdraw(world.buyer).event("Withdrawal").args["amount"] == refund
    before = w3.eth.get_balance(world.buyer.address)
    err = revert_of(jobs.withdraw, world.buyer)
    assert str(err) == f"ComputeJobs.NothingToWithdraw(account={world.buyer.address})"
    assert w3.eth.get_balance(world.buyer.address) == before
    assert revert_of(jobs.withdraw, world.outsider).error_name == "NothingToWithdraw"


def test_unknown_job(ledger, world) -> None:
    assert ledger.jobs.job(10_000) is None
    err = revert_of(ledger.jobs.attest_destruction, world.nodes[0], 10_000, h("r"))
    assert str(err) == "ComputeJobs.JobNotFound(jobId=10000)"


def test_no_approval_or_attestation_after_the_deadline(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    unapproved = request_job(ledger, w3, world, deadline_in=200)
    running = request_job(ledger, w3, world, deadline_in=200)
    authorize(ledger, w3, world, running)
    sigs = sign_all(ledger, unapproved, [world.provider1], now(w3) + 10_000)
    program = jobs.terms(running).program_hash
    jobs.attest(world.nodes[0], running, h("inputs"), program, h("o0"))
    increase_time(w3, 201)
    assert revert_of(jobs.approve_batch, world.relayer, unapproved, sigs).error_name == "DeadlinePassed"
    assert revert_of(jobs.approve, world.provider1, unapproved).error_name == "DeadlinePassed"
    err = revert_of(jobs.attest, world.nodes[1], running, h("inputs"), program, h("o1"))
    assert err.error_name == "DeadlinePassed" and err.args_dict["deadline"] == jobs.job(running).deadline
    jobs.reclaim(world.buyer, running)
    # destruction may still be attested by the node that ran
    jobs.attest_destruction(world.nodes[0], running, h("receipt"))


def test_jobs_survive_a_cluster_change(ledger, w3, world, chain_snapshot) -> None:
    jobs, reg = ledger.jobs, ledger.registry
    n0, n1, n2 = world.nodes
    old = request_job(ledger, w3, world)
    authorize(ledger, w3, world, old)
    # version 2 keeps n0 (at another index), replaces n2 by the spare node, and changes the fee
    spare = world.spare_node
    reg.register_cluster(world.operator, [spare.address, n0.address, n1.address], "bafyv2", h("cfg2"), 3)
    new = request_job(ledger, w3, world)
    authorize(ledger, w3, world, new)
    assert jobs.job(old).cluster_version == 1 and jobs.job(new).cluster_version == 2
    assert jobs.terms(new).node_fee == 3
    prog_old, prog_new = jobs.terms(old).program_hash, jobs.terms(new).program_hash
    # the spare node was not in version 1; n2 is not in version 2
    assert revert_of(jobs.attest, spare, old, h("i"), prog_old, h("o")).error_name == "NotComputeNode"
    assert revert_of(jobs.attest, n2, new, h("i"), prog_new, h("o")).error_name == "NotComputeNode"
    for node in (n0, n1, n2):
        jobs.attest(node, old, h("i"), prog_old, h("o"))
    assert {a.node_index for a in jobs.attestations(old)} == {0, 1, 2}
    for node in (spare, n0, n1):
        jobs.attest(node, new, h("i"), prog_new, h("o"))
    assert [a.node_index for a in jobs.attestations(new)] == [0, 1, 2]
    assert jobs.job(old).status is jobs.job(new).status is JobStatus.COMPLETED
    fee_old = jobs.terms(old).node_fee
    assert jobs.balance_of(n2.address) == fee_old and jobs.balance_of(spare.address) == 3
    assert jobs.balance_of(n0.address) == fee_old + 3
    # a suspended node cannot be put into a new cluster
    reg.suspend(world.operator, n1.address)
    err = revert_of(
        reg.register_cluster, world.operator, [spare.address, n0.address, n1.address], "b", h("c"), 3
    )
    assert str(err) == f"Registry.NotComputeNode(account={n1.address})"


def test_nonces_in_both_ranges_and_credits_share_a_slot(ledger, w3, world, chain_snapshot) -> None:
    jobs = ledger.jobs
    owner = world.provider1
    # nonces 0-159 share the account's slot with its credit; later ones live in their own words
    for nonce in (0, 159, 160, 415, 416, 2**200):
        assert not jobs.nonce_used(owner.address, nonce)
        jobs.invalidate_nonce(owner, nonce)
        assert jobs.nonce_used(owner.address, nonce)
        assert revert_of(jobs.invalidate_nonce, owner, nonce).error_name == "NonceAlreadyUsed"
    assert not any(jobs.nonce_used(owner.address, n) for n in (1, 158, 161, 414, 417))
    assert jobs.balance_of(owner.address) == 0
    job_id = request_job(ledger, w3, world)
    deadline = now(w3) + 600
    sigs = [
        jobs.sign_approval(owner, job_id, 159, deadline),
        jobs.sign_approval(world.provider2, job_id, 300, deadline),
        jobs.sign_approval(world.algo_owner, job_id, 5, deadline),
    ]
    assert revert_of(jobs.approve_batch, world.relayer, job_id, sigs).error_name == "NonceAlreadyUsed"
    sigs[0] = jobs.sign_approval(owner, job_id, 158, deadline)
    jobs.approve_batch(world.relayer, job_id, sigs)
    attest_all(ledger, world, job_id)
    price = jobs.terms(job_id).prices[0]
    assert jobs.balance_of(owner.address) == price
    assert jobs.withdraw(owner).event("Withdrawal").args["amount"] == price
    assert jobs.balance_of(owner.address) == 0
    assert all(jobs.nonce_used(owner.address, n) for n in (0, 158, 159, 160, 2**200))
    assert revert_of(jobs.withdraw, owner).error_name == "NothingToWithdraw"
