"""Data-use policies from the command line: build one from flags or a file, set it, say it in words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dx import context
from dx.errors import InputError, RemoteError
from dx_core.cid import cid_from_digest
from exchange_api.client import ExchangeError
from mpc_compute.manifest import Manifest
from mpc_compute.policy import (
    DEFAULT_POLICY,
    RULES,
    AllowedAlgorithm,
    Policy,
    PolicyError,
    describe,
)


def build_policy(
    policy_file: Path | None = None,
    min_group_size: int | None = None,
    columns: list[str] | None = None,
    allow_algorithms: list[int] | None = None,
    allow_buyers: list[str] | None = None,
    lookups_per_job: int | None = None,
    lookups_per_period: int | None = None,
    lookup_period_s: int | None = None,
    pre_approve: bool | None = None,
    difference_scope: str | None = None,
    reveal_absence: bool | None = None,
) -> Policy:
    """A policy: the file's (or the default one), with each flag given replacing its field.

    `columns` items are NAME=RULE; `allow_algorithms` are algorithm listing ids, bound to the code hash the
    chain holds for them now (a listing whose code changes is no longer allowed)."""
    try:
        base = Policy.from_dict(json.loads(Path(policy_file).read_text())) if policy_file else DEFAULT_POLICY
    except (OSError, ValueError, PolicyError) as exc:
        raise InputError(f"--policy {policy_file}: {exc}", hint="see `dx dataset publish --help`") from None
    doc = base.to_dict()
    if min_group_size is not None:
        doc["min_group_size"] = min_group_size
    for item in columns or []:
        name, sep, rule = item.partition("=")
        if not sep or rule not in RULES:
            raise InputError(f"--column {item!r} is not NAME=RULE", hint="RULE: " + ", ".join(RULES))
        doc["columns"][name] = rule
    if allow_algorithms:
        market = context.ledger().market
        allowed = []
        for listing_id in allow_algorithms:
            listing = market.algorithm(listing_id)
            if listing is None:
                raise InputError(f"--allow-algorithm {listing_id}: no algorithm listing has this id")
            allowed.append(AllowedAlgorithm(listing_id, bytes(listing.code_hash).hex()).to_dict())
        doc["allowed_algorithms"] = allowed
    if allow_buyers:
        doc["allowed_buyers"] = [b.lower() for b in allow_buyers]
    caps = doc["id_lookups"]
    for key, value in (("per_job", lookups_per_job), ("per_period", lookups_per_period),
                       ("period_seconds", lookup_period_s)):
        if value is not None:
            caps[key] = value
    if pre_approve is not None:
        doc["pre_approve"] = pre_approve
    if difference_scope is not None:
        doc["difference_scope"] = difference_scope
    if reveal_absence is not None:
        doc["reveal_absence"] = reveal_absence
    try:
        return Policy.from_dict(doc)
    except PolicyError as exc:
        raise InputError(f"the policy is not valid: {exc}") from None


def set_policy(acting: str, dataset_id: int, policy: Policy) -> dict[str, Any]:
    """Replace a dataset's policy (updateDataset with its other terms unchanged); jobs requested before keep
    the old policy's hash and can no longer be authorized (Market.PolicyChanged)."""
    client = context.client(acting)
    on_chain = context.ledger().market.dataset(dataset_id)
    if on_chain is None:
        raise InputError(f"no dataset listing with id {dataset_id}", hint="see `dx dataset list --mine`")
    digest = bytes(on_chain.manifest_hash)
    manifest = Manifest.from_bytes(client.get_blob(cid_from_digest(digest)), digest)
    metadata = json.loads(client.get_blob(on_chain.metadata_cid))
    try:
        tx = client.update_dataset(dataset_id, metadata, manifest.to_bytes(), on_chain.price_per_use,
                                   on_chain.max_uses, on_chain.expires_at, policy)
    except ExchangeError as exc:
        raise RemoteError(f"the policy update of dataset {dataset_id} was refused: "
                          f"{exc.problem.get('detail', exc)}") from None
    return {"dataset_id": dataset_id, "policy_hash": "0x" + policy.chain_hash().hex(),
            "policy": policy.to_dict(), "tx_hash": tx.get("tx_hash"), "rules": describe(policy)}


def policy_words(listing: dict[str, Any]) -> list[str]:
    """The catalog listing's policy in words (the indexer stores the document it checked against the hash)."""
    doc = (listing.get("extra") or {}).get("policy")
    if doc is None:
        return ["policy: the listing's policy document is missing or does not match its on-chain hash"]
    return describe(Policy.from_dict(doc))
