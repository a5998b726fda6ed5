"""A dataset listing's life cycle: change its price, max uses or expiry, or re-publish new data under it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dx import context, output
from dx.actions.membership import require_active
from dx.actions.sellers import parse_schema
from dx.errors import InputError, RemoteError
from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from exchange_api.client import ExchangeError
from mpc_compute.manifest import Manifest
from mpc_compute.policy import describe, load_policy

# The input client loads jax and spu (seconds): imported only when new data is shared.

_RELATIVE = re.compile(r"^\+(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_expiry(value: str, now: int) -> int:
    """`never` (0), `+N[s|m|h|d]` from `now` (the chain's time), a unix time, or an ISO date/time (UTC
    unless it names a zone) as the Market's expiresAt."""
    text = value.strip().lower()
    if text in {"never", "0"}:
        return 0
    rel = _RELATIVE.match(text)
    if rel:
        return now + int(rel.group(1)) * _UNIT_SECONDS[rel.group(2)]
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"--expires {value!r} is not a time",
                         hint="use never, +30d / +12h, a unix time, or an ISO date like 2030-01-31") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def update_dataset(acting: str, dataset_id: int, price: int | None = None, max_uses: int | None = None,
                   expires: str | None = None, data: Path | None = None, schema: str | None = None) -> dict:
    """Replace the listing's terms (updateDataset): what is not given stays as on-chain, the policy too.
    With `data`, the file is validated, shared and sealed to the cluster's current keys and the listing
    points at the new manifest (the same id, so its usage count and approvals history stay with it)."""
    from contracts.types import ListingStatus  # web3 loads with contracts: only when the chain is used

    ledger = context.ledger()
    client = context.client(acting)
    on_chain = ledger.market.dataset(dataset_id)
    if on_chain is None:
        raise InputError(f"no dataset listing with id {dataset_id}", hint="see `dx dataset list --mine`")
    if on_chain.owner.lower() != client.account.address.lower():
        raise InputError(f"dataset {dataset_id} belongs to {on_chain.owner}, not to {acting}",
                         hint="only its owner changes a listing (rule: Market.NotListingOwner)")
    if on_chain.status != ListingStatus.ACTIVE:
        raise InputError(f"dataset {dataset_id} is delisted: its terms and data can no longer change",
                         hint="publish the data as a new listing (rule: Market.DatasetNotActive)")
    # The chain lets a suspended owner update, but the exchange refuses its uploads and transactions
    # halfway (after the shares are made): refuse first, in words.
    require_active(client.account.address, Role.PROVIDER, acting, "it cannot change a listing")
    if price is None and max_uses is None and expires is None and data is None:
        raise InputError("nothing to change", hint="pass --price, --max-uses, --expires or --data")
    if max_uses is not None and max_uses != 0 and max_uses < on_chain.uses:
        raise InputError(f"--max-uses {max_uses} is below the {on_chain.uses} uses dataset {dataset_id} "
                         "already has", hint="rule: Market.MaxUsesBelowUses (0 means unlimited)")
    now = int(ledger.w3.eth.get_block("latest")["timestamp"])
    expires_at = on_chain.expires_at if expires is None else parse_expiry(expires, now)
    if expires_at and expires_at <= now:
        raise InputError(f"--expires {expires!r} is in the past on the chain's clock",
                         hint="rule: Market.ExpiryInPast; pass a later time or `never`")
    digest = bytes(on_chain.manifest_hash)
    metadata = json.loads(client.get_blob(on_chain.metadata_cid))
    policy = load_policy(on_chain.policy_hash, client.get_blob)
    if data is None:
        manifest_bytes = Manifest.from_bytes(client.get_blob(cid_from_digest(digest)), digest).to_bytes()
        rows = metadata.get("rows")
    else:
        manifest_bytes, rows = _reshare(acting, data, schema, metadata, policy)
        metadata["rows"] = rows
    new_price = on_chain.price_per_use if price is None else price
    new_max = on_chain.max_uses if max_uses is None else max_uses
    try:
        tx = client.update_dataset(dataset_id, metadata, manifest_bytes, new_price, new_max, expires_at,
                                   policy)
    except ExchangeError as exc:
        rule = exc.contract_error
        raise RemoteError(f"the update of dataset {dataset_id} was refused{f' ({rule})' if rule else ''}: "
                          f"{exc.problem.get('detail', exc)}") from None
    after = ledger.market.dataset(dataset_id)
    return {"dataset_id": dataset_id, "price_wei": after.price_per_use, "max_uses": after.max_uses,
            "uses": after.uses, "expires_at": after.expires_at,
            "expires": (datetime.fromtimestamp(after.expires_at, UTC).isoformat()
                        if after.expires_at else None),
            "manifest_hash": "0x" + bytes(after.manifest_hash).hex(), "republished": data is not None,
            "rows": rows, "policy_hash": "0x" + bytes(after.policy_hash).hex(), "policy": describe(policy),
            "tx_hash": tx.get("tx_hash")}


def _reshare(acting: str, data: Path, schema: str | None, metadata: dict[str, Any], policy: Any
             ) -> tuple[bytes, int]:
    """The new manifest and row count of `data`, shared and sealed to the cluster's current node keys."""
    from mpc_compute.clients import input as input_client

    spec = schema or ",".join(f"{c['name']}:{c['dtype']}:{c['role']}" for c in metadata.get("columns", []))
    columns = parse_schema(spec)
    unknown = sorted(set(policy.columns) - {c.name for c in columns})
    if unknown:
        raise InputError(f"the listing's policy names columns {unknown} the new data does not have",
                         hint="keep the columns, or change the policy with `dx dataset policy` first")
    try:
        shared = input_client.share_dataset(Path(data), columns, context.cluster_keys(),
                                            context.blob_store(acting), progress=not output.json_mode())
    except input_client.InputValidationError as exc:
        raise InputError(f"{Path(data).name}: {exc}", hint="fix the file or the --schema") from None
    metadata["columns"] = [{"name": c.name, "dtype": c.dtype, "role": c.role} for c in columns]
    metadata["manifest_cid"] = shared.manifest_cid
    return shared.manifest_bytes, shared.manifest.rows
