"""Market: listing, updating, delisting, policies and quoting, with owner and role checks."""

from __future__ import annotations

import pytest

from contracts import ContractRevert, ListingStatus
from tests.contracts.conftest import CID, PRICES, authorize, h, now, request_job

pytestmark = [pytest.mark.contracts, pytest.mark.chain]


def err(call, *args, **kwargs) -> ContractRevert:
    with pytest.raises(ContractRevert) as info:
        call(*args, **kwargs)
    return info.value


def test_dataset_listing_life(ledger, w3, world, chain_snapshot) -> None:
    m = ledger.market
    expires = now(w3) + 1000
    result = m.list_dataset(
        world.provider1, "bafyd", h("man"), 123, max_uses=9, expires_at=expires, policy_hash=h("policy")
    )
    ev = result.event("DatasetListed")
    ds = ev.args["id"]
    assert ds == m.dataset_count() and ev.args["owner"] == world.provider1.address
    assert ev.args["terms"] == {
        "metadataCid": "bafyd",
        "manifestHash": h("man"),
        "pricePerUse": 123,
        "maxUses": 9,
        "expiresAt": expires,
        "policyHash": h("policy"),
    }
    listing = m.dataset(ds)
    assert (listing.owner, listing.metadata_cid, listing.manifest_hash, listing.price_per_use) == (
        world.provider1.address,
        "bafyd",
        h("man"),
        123,
    )
    assert (listing.max_uses, listing.uses, listing.expires_at, listing.policy_hash) == (
        9,
        0,
        expires,
        h("policy"),
    )
    assert listing.status is ListingStatus.ACTIVE and not listing.has_policy

    m.update_dataset(world.provider1, ds, "bafyd2", h("man2"), 456, max_uses=0)
    listing = m.dataset(ds)
    assert (listing.metadata_cid, listing.manifest_hash, listing.price_per_use, listing.max_uses) == (
        "bafyd2",
        h("man2"),
        456,
        0,
    )
    assert str(err(m.update_dataset, world.provider2, ds, "x", h("x"), 1)) == (
        f"Market.NotListingOwner(listingId={ds}, caller={world.provider2.address})"
    )
    assert err(m.set_buyer_policy, world.provider2, ds, [world.buyer.address]).error_name == "NotListingOwner"
    assert err(m.update_dataset, world.provider1, ds, "x", h("x"), 2**96).error_name == "PriceTooLarge"
    assert err(m.update_dataset, world.provider1, ds, "x", h("x"), 1, expires_at=now(w3) - 1).error_name == (
        "ExpiryInPast"
    )
    m.delist_dataset(world.provider1, ds)
    assert m.dataset(ds).status is ListingStatus.DELISTED
    assert str(err(m.delist_dataset, world.provider1, ds)) == f"Market.DatasetNotActive(datasetId={ds})"
    assert err(m.update_dataset, world.provider1, ds, "x", h("x"), 1).error_name == "DatasetNotActive"
    assert m.dataset(9999) is None


def test_listing_needs_an_active_role(ledger, world, chain_snapshot) -> None:
    m = ledger.market
    assert str(err(m.list_dataset, world.buyer, CID, h("m"), 1)) == (
        f"Market.NotActiveMember(account={world.buyer.address}, role=1)"
    )
    assert str(err(m.list_algorithm, world.provider1, "a", "1", h("c"), CID, 1)) == (
        f"Market.NotActiveMember(account={world.provider1.address}, role=2)"
    )
    assert err(m.list_dataset, world.outsider, CID, h("m"), 1).error_name == "NotActiveMember"
    ledger.registry.suspend(world.operator, world.provider1.address)
    assert err(m.list_dataset, world.provider1, CID, h("m"), 1).error_name == "NotActiveMember"


def test_algorithm_listing_life(ledger, world, chain_snapshot) -> None:
    m = ledger.market
    alg = m.algorithm(world.algorithm)
    assert (alg.owner, alg.name, alg.version, alg.code_hash, alg.price_per_use, alg.max_uses) == (
        world.algo_owner.address,
        "joint_stats",
        "1.0",
        h("code"),
        PRICES["alg"],
        50,
    )
    assert alg.secret_params_hash == b"\0" * 32 and alg.status is ListingStatus.ACTIVE
    m.update_algorithm(world.algo_owner, world.algorithm, "bafynew", 77, h("secret params"), 60)
    alg = m.algorithm(world.algorithm)
    assert (alg.metadata_cid, alg.price_per_use, alg.secret_params_hash, alg.max_uses) == (
        "bafynew",
        77,
        h("secret params"),
        60,
    )
    assert err(m.update_algorithm, world.provider1, world.algorithm, "x", 1).error_name == "NotListingOwner"
    m.delist_algorithm(world.algo_owner, world.algorithm)
    assert m.algorithm(world.algorithm).status is ListingStatus.DELISTED
    assert str(err(m.quote, [world.dataset1], world.algorithm, world.buyer.address)) == (
        f"Market.AlgorithmNotActive(algorithmId={world.algorithm})"
    )
    assert m.algorithm(777) is None
    assert (
        str(err(m.quote, [world.dataset1], 777, world.buyer.address))
        == "Market.AlgorithmNotFound(algorithmId=777)"
    )


def test_quote_and_policies(ledger, world, chain_snapshot) -> None:
    m = ledger.market
    ds = [world.dataset1, world.dataset2]
    owners, prices, mask = m.quote(ds, world.algorithm, world.buyer.address)
    assert owners == [world.provider1.address, world.provider2.address, world.algo_owner.address]
    assert prices == [PRICES["d1"], PRICES["d2"], PRICES["alg"]] and mask == 0
    ev = m.set_algorithm_policy(world.provider2, world.dataset2, [world.algorithm]).event(
        "DatasetAlgorithmPolicySet"
    )
    assert ev.args == {"id": world.dataset2, "algorithmId": world.algorithm, "preApproved": True}
    assert m.quote(ds, world.algorithm, world.buyer.address)[2] == 0b10
    assert m.dataset(world.dataset2).has_policy
    assert (
        str(err(m.quote, [], world.algorithm, world.buyer.address)) == "Market.InvalidDatasetCount(count=0)"
    )
    assert (
        err(m.quote, list(range(1, 17)), world.algorithm, world.buyer.address).error_name
        == "InvalidDatasetCount"
    )
    # a pre-approved listing of a suspended owner cannot be bought (no approval would catch it)
    ledger.registry.suspend(world.operator, world.provider2.address)
    assert str(err(m.quote, ds, world.algorithm, world.buyer.address)) == (
        f"Market.ListingOwnerInactive(owner={world.provider2.address})"
    )


def test_a_suspended_owners_listing_cannot_be_requested_or_changed(ledger, w3, world, chain_snapshot) -> None:
    """A request over a suspended owner's listing (pre-approved or not) used to lock the buyer's escrow in
    a job no approval could ever authorize; a suspended owner could still reprice its listings."""
    m, reg = ledger.market, ledger.registry
    reg.suspend(world.operator, world.provider1.address)
    assert str(err(m.quote, [world.dataset1], world.algorithm, world.buyer.address)) == (
        f"Market.ListingOwnerInactive(owner={world.provider1.address})"
    )
    assert err(request_job, ledger, w3, world, datasets=[world.dataset1]).error_name == "ListingOwnerInactive"
    assert str(err(m.update_dataset, world.provider1, world.dataset1, CID, h("m"), 1)) == (
        f"Market.NotActiveMember(account={world.provider1.address}, role=1)"
    )
    reg.reinstate(world.operator, world.provider1.address)
    assert request_job(ledger, w3, world, datasets=[world.dataset1]) >= 1
    reg.suspend(world.operator, world.algo_owner.address)
    assert str(err(m.quote, [world.dataset1], world.algorithm, world.buyer.address)) == (
        f"Market.ListingOwnerInactive(owner={world.algo_owner.address})"
    )
    alg = m.algorithm(world.algorithm)
    assert (
        err(
            m.update_algorithm,
            world.algo_owner,
            world.algorithm,
            alg.metadata_cid,
            1,
            alg.secret_params_hash,
            0,
        ).error_name
        == "NotActiveMember"
    )


def test_a_suspended_owner_cannot_loosen_its_controls_but_can_tighten_them(  # type: ignore[no-untyped-def]
    ledger, world, chain_snapshot
) -> None:
    """An owner the operator suspended (a leaked key, a compliance hold) used to be able to raise its
    dataset's privacy budget and pre-approve buyers and algorithms, ready for the day it is reinstated.
    Now loosening needs an active membership; withdrawing (a delisting, an end to a pre-approval) does not."""
    m, reg = ledger.market, ledger.registry
    ds = world.dataset1
    m.set_privacy_budget(world.provider1, ds, 10**6, 4 * 10**5)
    m.set_buyer_policy(world.provider1, ds, [world.buyer.address])
    reg.suspend(world.operator, world.provider1.address)
    refused = f"Market.NotActiveMember(account={world.provider1.address}, role=1)"
    assert str(err(m.set_privacy_budget, world.provider1, ds, 5 * 10**6, 10**6)) == refused
    assert str(err(m.set_buyer_policy, world.provider1, ds, [world.outsider.address])) == refused
    assert str(err(m.set_algorithm_policy, world.provider1, ds, [world.algorithm])) == refused
    assert m.privacy_budget(ds).total_micro_eps == 10**6
    assert not m.is_buyer_pre_approved(ds, world.outsider.address)
    # Withdrawing stays open to a suspended owner: it only ever protects the data more.
    m.set_buyer_policy(world.provider1, ds, [world.buyer.address], pre_approved=False)
    assert not m.is_buyer_pre_approved(ds, world.buyer.address)
    m.delist_dataset(world.provider1, ds)
    # A stranger still hears that it is not the owner, not that it is inactive.
    assert err(m.set_privacy_budget, world.outsider, ds, 1, 1).error_name == "NotListingOwner"


def test_max_uses_cannot_drop_below_uses(ledger, w3, world, chain_snapshot) -> None:
    authorize(ledger, w3, world, request_job(ledger, w3, world))
    authorize(ledger, w3, world, request_job(ledger, w3, world))
    m = ledger.market
    assert m.dataset(world.dataset1).uses == 2
    assert str(err(m.update_dataset, world.provider1, world.dataset1, CID, h("m"), 1, max_uses=1)) == (
        f"Market.MaxUsesBelowUses(listingId={world.dataset1}, uses=2, maxUses=1)"
    )
    m.update_dataset(world.provider1, world.dataset1, CID, h("m"), 1, max_uses=2)
    assert str(err(m.quote, [world.dataset1], world.algorithm, world.buyer.address)) == (
        f"Market.UsageLimitReached(listingId={world.dataset1}, uses=2, maxUses=2)"
    )
    m.update_algorithm(world.algo_owner, world.algorithm, CID, 1, max_uses=2)
    assert str(err(m.quote, [world.dataset2], world.algorithm, world.buyer.address)) == (
        f"Market.AlgorithmUsageLimitReached(algorithmId={world.algorithm}, uses=2, maxUses=2)"
    )


def test_wiring_is_one_time_and_algorithm_limits(ledger, w3, world, chain_snapshot) -> None:
    m = ledger.market
    assert str(err(m.send, world.operator, "setComputeJobs", world.outsider.address)) == (
        f"Market.ComputeJobsAlreadySet(computeJobs={ledger.jobs.address})"
    )
    assert err(m.send, world.outsider, "setComputeJobs", world.outsider.address).error_name == (
        "AccessControlUnauthorizedAccount"
    )
    assert str(err(m.list_algorithm, world.algo_owner, "a", "1", h("c"), CID, 2**96)) == (
        f"Market.PriceTooLarge(price={2**96})"
    )
    authorize(ledger, w3, world, request_job(ledger, w3, world))
    m.update_algorithm(world.algo_owner, world.algorithm, CID, 1, max_uses=0)  # 0 = unlimited is fine
    ledger.market.update_algorithm(world.algo_owner, world.algorithm, CID, 1, max_uses=1)
    assert m.algorithm(world.algorithm).max_uses == 1 and m.algorithm(world.algorithm).uses == 1
