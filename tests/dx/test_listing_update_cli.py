"""A dataset listing's life cycle through the real `dx` entry point on a real chain and API: `dx dataset
update` changes price, max uses and expiry, refuses what the Market refuses in words, and re-publishes
new data under the same listing id."""

from __future__ import annotations

import json

import pytest

from dx_core.cid import cid_from_digest
from mpc_compute.manifest import Manifest
from tests.dx.test_membership_cli import DxWorld, dx, dx_json, dx_world, publish, write_table

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
__all__ = ["dx_world"]  # the module-scoped stack fixture, shared with the membership tests
DAY = 86400


def _chain_now(world: DxWorld) -> int:
    return int(world.w.ledger.w3.eth.get_block("latest")["timestamp"])


def _publish(capsys, world: DxWorld) -> dict:
    code, out, err = publish(capsys, world)
    assert code == 0, (out, err)
    return json.loads(out)


def _authorized_job(capsys, world: DxWorld, dataset_id: int, algorithm_id: int) -> int:
    """A job over the dataset, requested by the buyer and approved by both owners: one use counted."""
    job = dx_json(capsys, "job", "request", "-a", str(algorithm_id), "-d", f"data_0={dataset_id}",
                  "--as", "buyer")["job_id"]
    dx_json(capsys, "approve", str(job), "--as", "seller")
    done = dx_json(capsys, "approve", str(job), "--as", "vendor")
    assert done["status"] == "authorized", done
    return job


def test_update_changes_price_max_uses_and_expiry_on_chain(dx_world, capsys) -> None:
    market = dx_world.w.ledger.market
    dataset_id = _publish(capsys, dx_world)["dataset_id"]
    before = market.dataset(dataset_id)

    start = _chain_now(dx_world)
    done = dx_json(capsys, "dataset", "update", str(dataset_id), "--price", "1500", "--max-uses", "7",
                   "--expires", "+30d", "--as", "seller")
    after = market.dataset(dataset_id)
    assert (after.price_per_use, after.max_uses) == (1500, 7)
    assert start + 30 * DAY <= after.expires_at <= _chain_now(dx_world) + 30 * DAY
    assert (done["price_wei"], done["max_uses"], done["expires_at"]) == (1500, 7, after.expires_at)
    assert done["republished"] is False
    # what was not given stays as it was: the data and the policy
    assert after.manifest_hash == before.manifest_hash and after.policy_hash == before.policy_hash
    assert done["manifest_hash"] == "0x" + before.manifest_hash.hex()

    # only the price: max uses and expiry stay; `never` lifts the expiry
    dx_json(capsys, "dataset", "update", str(dataset_id), "--price", "1600", "--as", "seller")
    kept = market.dataset(dataset_id)
    assert (kept.max_uses, kept.expires_at) == (7, after.expires_at)
    assert dx_json(capsys, "dataset", "update", str(dataset_id), "--expires", "never",
                   "--as", "seller")["expires_at"] == 0
    assert market.dataset(dataset_id).price_per_use == 1600

    # the catalog says what the chain says, right after the command returns
    shown = dx_json(capsys, "dataset", "show", str(dataset_id), "--as", "buyer")
    assert shown["price_wei"] in (1600, "1600") and shown["max_uses"] == 7, shown


def test_update_refuses_what_the_market_refuses_in_words(dx_world, capsys) -> None:
    market = dx_world.w.ledger.market
    dataset_id = _publish(capsys, dx_world)["dataset_id"]
    algorithm = dx_json(capsys, "algorithm", "publish", "joint_stats", "--as", "vendor")["algorithm_id"]
    for _ in range(2):
        _authorized_job(capsys, dx_world, dataset_id, algorithm)
    assert market.dataset(dataset_id).uses == 2
    terms = market.dataset(dataset_id)

    code, out, err = dx(capsys, "dataset", "update", str(dataset_id), "--max-uses", "1", "--as", "seller")
    text = " ".join((out + err).split())
    assert code != 0 and "MaxUsesBelowUses" in text and "2 uses" in text, text
    code, out, err = dx(capsys, "dataset", "update", str(dataset_id), "--price", "1", "--as", "buyer")
    text = " ".join((out + err).split())
    assert code != 0 and "NotListingOwner" in text and "buyer" in text, text
    code, out, err = dx(capsys, "dataset", "update", str(dataset_id), "--expires", "2001-01-01",
                        "--as", "seller")
    assert code != 0 and "ExpiryInPast" in out + err
    code, out, err = dx(capsys, "dataset", "update", str(dataset_id), "--expires", "tomorrow",
                        "--as", "seller")
    assert code != 0 and "is not a time" in out + err
    assert market.dataset(dataset_id) == terms  # nothing changed on-chain

    # max uses equal to the uses so far is allowed (the listing is then used up), as is unlimited
    assert dx_json(capsys, "dataset", "update", str(dataset_id), "--max-uses", "2", "--as", "seller")[
        "max_uses"] == 2
    assert dx_json(capsys, "dataset", "update", str(dataset_id), "--max-uses", "0", "--as", "seller")[
        "max_uses"] == 0


def test_update_with_data_republishes_under_the_same_id(dx_world, capsys) -> None:
    market = dx_world.w.ledger.market
    listed = _publish(capsys, dx_world)
    dataset_id = listed["dataset_id"]
    old = market.dataset(dataset_id)
    old_manifest = Manifest.from_bytes(_blob(dx_world, old.manifest_hash), old.manifest_hash)

    new_file = write_table(dx_world.data_dir.parent / "tax-2.csv", rows=30, scale=2.0)
    done = dx_json(capsys, "dataset", "update", str(dataset_id), "--data", str(new_file), "--as", "seller")
    new = market.dataset(dataset_id)
    assert done["republished"] is True and done["rows"] == 30 and done["dataset_id"] == dataset_id
    assert new.manifest_hash != old.manifest_hash
    assert done["manifest_hash"] == "0x" + new.manifest_hash.hex()
    assert (new.price_per_use, new.max_uses, new.policy_hash, new.uses) == (
        old.price_per_use, old.max_uses, old.policy_hash, old.uses)

    # The listing points at the new manifest only: none of the old share bundles is referenced by it
    # or by the listing's metadata, and each new bundle is sealed to the cluster's current nodes.
    manifest = Manifest.from_bytes(_blob(dx_world, new.manifest_hash), new.manifest_hash)
    assert manifest.rows == 30
    assert not set(manifest.blob_cids()) & set(old_manifest.blob_cids())
    metadata = json.loads(_blob_cid(dx_world, new.metadata_cid))
    assert metadata["manifest_cid"] == cid_from_digest(new.manifest_hash) and metadata["rows"] == 30
    shown = dx_json(capsys, "dataset", "show", str(dataset_id), "--as", "buyer")
    assert shown["manifest_hash"] == "0x" + new.manifest_hash.hex(), shown

    # A file that does not match the listing's columns is refused before anything is shared.
    bad = dx_world.data_dir.parent / "bad.csv"
    bad.write_text("enterprise_id,revenue\nE1,abc\n")
    code, out, err = dx(capsys, "dataset", "update", str(dataset_id), "--data", str(bad), "--as", "seller")
    assert code != 0 and "bad.csv" in out + err
    assert market.dataset(dataset_id).manifest_hash == new.manifest_hash


def test_a_delisted_or_suspended_owners_update_is_refused_before_anything_is_shared(dx_world, capsys) -> None:
    market = dx_world.w.ledger.market
    new_file = write_table(dx_world.data_dir.parent / "tax-3.csv", rows=20)
    delisted = _publish(capsys, dx_world)["dataset_id"]
    dx_json(capsys, "dataset", "delist", str(delisted), "--as", "seller")
    blobs = dx_world.blob_count()
    code, out, err = dx(capsys, "dataset", "update", str(delisted), "--data", str(new_file), "--as", "seller")
    text = " ".join((out + err).split())
    assert code != 0 and "DatasetNotActive" in text and "Traceback" not in text, text
    assert dx_world.blob_count() == blobs  # no share was uploaded for an update the Market refuses

    active = _publish(capsys, dx_world)["dataset_id"]
    terms = market.dataset(active)
    dx_json(capsys, "member", "suspend", "seller", "--as", "operator")
    try:
        blobs = dx_world.blob_count()
        for change in (["--data", str(new_file)], ["--price", "5"]):
            code, out, err = dx(capsys, "dataset", "update", str(active), *change, "--as", "seller")
            text = " ".join((out + err).split())
            assert code != 0 and "NotActiveMember" in text and "suspended" in text, text
            assert "Traceback" not in text
        assert dx_world.blob_count() == blobs
        assert market.dataset(active) == terms
    finally:
        dx_json(capsys, "member", "reinstate", "seller", "--as", "operator")


def _blob(world: DxWorld, digest: bytes) -> bytes:
    return _blob_cid(world, cid_from_digest(digest))


def _blob_cid(world: DxWorld, cid: str) -> bytes:
    import httpx

    from dx import context

    resp = httpx.get(f"{context.api_url()}/v1/blobs/{cid}", timeout=30)
    resp.raise_for_status()
    return resp.content
