"""A compute node's key rotation with a path forward: re-seal its shares, owners apply signed requests.

The node re-seals its own shares to its new key and signs one reseal request per listing; each owner
verifies a request against the chain and points its listing at a manifest in which only that node's
entry changed.

The node opens only its own bundles (sealed to its old key) and only in memory; it never sees another
node's share, and the owner never sees any share: it checks the new bundles' clear headers (context and
recipient key id) and that the plaintext-share hashes stay those of the old manifest, which the node
checks again when it opens the bundle for a job.

A request is canonical JSON signed with EIP-191 (`personal_sign`) by the node's account key. Its domain
string, chain id and Market address keep it to this deployment; `old_manifest_hash` ties it to the
listing's current manifest (once applied, or once the listing changed, it no longer applies); its nonce
is recorded by the owner so the same request is never applied twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from contracts.types import ListingStatus
from dx import context, identities
from dx.actions.membership import require_active
from dx.errors import ConfigError, InputError, RemoteError, VerificationError
from dx_core import keystore
from dx_core.canonical import canonical_json
from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from exchange_api.client import ExchangeError
from mpc_compute.envelope import EnvelopeError, key_id, open_bundle, read_header, seal, share_context
from mpc_compute.manifest import ChunkRef, Manifest, ManifestError
from mpc_compute.policy import load_policy

DOMAIN = "dx-reseal/v1"
ZERO32 = b"\x00" * 32


def _retired_identity(acting: str, current: keystore.Identity, old_keystore: Path | None
                      ) -> keystore.Identity:
    """The node's previous identity: `old_keystore`, else the newest keys/retired/ file of this account
    whose X25519 key is not the current one (`dx account rotate-key` leaves it there)."""
    password = identities.password()
    if old_keystore is not None:
        candidates = [Path(old_keystore)]
    else:
        stem = identities.path_of(acting).stem
        retired = identities.keys_dir() / "retired"
        candidates = sorted(retired.glob(f"{stem}-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        try:
            old = keystore.load(path, password)
        except keystore.KeystoreError as exc:
            raise ConfigError(f"cannot open the retired keystore {path}: {exc}",
                              hint="pass --old-keystore with the keystore of the key before rotation"
                              ) from None
        if old.address == current.address and old.x25519_public != current.x25519_public:
            return old
    raise ConfigError(f"no retired keystore of {acting} holds a key other than its current one",
                      hint="rotate first (`dx account rotate-key --force`), or pass --old-keystore PATH")


def _sign(account: Any, body: dict[str, Any]) -> str:
    return account.sign_message(encode_defunct(primitive=canonical_json(body))).signature.to_0x_hex()


def _listings(ledger: Any) -> list[tuple[str, int, str, bytes]]:
    """(kind, id, owner, manifest digest) of every active listing holding shares: dataset listings and
    algorithm listings with a secret model (a delisted listing never runs again)."""
    out = []
    for dataset_id in range(1, ledger.market.dataset_count() + 1):
        d = ledger.market.dataset(dataset_id)
        if d is not None and d.status == ListingStatus.ACTIVE:
            out.append(("dataset", dataset_id, d.owner, bytes(d.manifest_hash)))
    for algorithm_id in range(1, ledger.market.algorithm_count() + 1):
        a = ledger.market.algorithm(algorithm_id)
        if a is not None and a.status == ListingStatus.ACTIVE and bytes(a.secret_params_hash) != ZERO32:
            out.append(("model", algorithm_id, a.owner, bytes(a.secret_params_hash)))
    return out


def reseal_node(acting: str, out_dir: Path, old_keystore: Path | None = None) -> dict[str, Any]:
    """Re-seal to the acting node's registered key every share of it that an active listing's manifest
    (a dataset's, or a secret model's) holds sealed to its old key; upload the new bundles; write one
    signed request per listing to `out_dir` for its owner (`dx dataset reseal` / `dx algorithm reseal`)."""
    ledger = context.ledger()
    current = identities.load(acting)
    address = current.address
    require_active(address, Role.COMPUTE_NODE, acting, "it holds no shares to re-seal")
    registered = bytes(ledger.registry.member(address).encryption_key)
    if registered != current.x25519_public:
        raise ConfigError(f"{acting}'s keystore key {current.x25519_public.hex()[:16]}... is not the one the "
                          f"Registry holds ({registered.hex()[:16]}...)",
                          hint="finish the rotation first (`dx account rotate-key --force`)")
    index = ledger.registry.node_index(address)
    if index is None:
        raise InputError(f"{acting} ({address}) is not a node of the registered cluster",
                         hint="only the cluster's nodes hold shares")
    old = _retired_identity(acting, current, old_keystore)
    client = context.client(acting)
    store = context.blob_store(acting)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for kind, listing_id, owner, digest in _listings(ledger):
        what = f"{'dataset' if kind == 'dataset' else 'algorithm'} {listing_id}"
        try:
            manifest = Manifest.from_bytes(client.get_blob(cid_from_digest(digest)), digest)
        except (ExchangeError, ManifestError) as exc:
            skipped.append({"kind": kind, "listing_id": listing_id, "reason": f"manifest unreadable: {exc}"})
            continue
        mine = manifest.node(index)
        if mine.public_key != old.x25519_public.hex():
            continue  # sealed to another key (the current one, or a key older than this rotation)
        ctx = share_context(manifest.kind, manifest.label, index)
        shares: dict[str, list[dict[str, Any]]] = {}
        for array, chunks in mine.arrays.items():
            shares[array] = []
            for chunk in chunks:
                try:
                    share = open_bundle(store.get(chunk.cid), old.x25519, ctx)
                except EnvelopeError as exc:
                    raise VerificationError(f"{what}: bundle {chunk.cid} does not open with the old key: "
                                            f"{exc}") from None
                if hashlib.sha256(share).hexdigest() != chunk.share_sha256:
                    raise VerificationError(f"{what}: bundle {chunk.cid} holds a share whose hash is not the "
                                            "manifest's", hint="the owner must re-publish")
                # Only in memory: the plaintext share goes straight into the new envelope.
                new_cid = store.put(seal(share, current.x25519_public, ctx))
                del share
                shares[array].append({"old_cid": chunk.cid, "new_cid": new_cid,
                                      "share_sha256": chunk.share_sha256, "rows": chunk.rows})
        body = {"domain": DOMAIN, "chain_id": ledger.w3.eth.chain_id, "market": ledger.market.address,
                "node": address, "node_index": index, "kind": kind, "listing_id": listing_id,
                "old_manifest_hash": "0x" + digest.hex(), "old_key": old.x25519_public.hex(),
                "new_key": current.x25519_public.hex(), "shares": shares, "nonce": secrets.token_hex(16)}
        path = out_dir / f"reseal-{kind}-{listing_id}-node{index}.json"
        path.write_text(json.dumps({"request": body, "signature": _sign(current.account, body)}, indent=1))
        written.append({"kind": kind, "listing_id": listing_id, "owner": owner, "request": str(path),
                        "bundles": sum(len(v) for v in shares.values())})
    return {"node": acting, "address": address, "node_index": index, "old_key": old.x25519_public.hex(),
            "new_key": current.x25519_public.hex(), "requests": written, "skipped": skipped}


def _used_nonces_path() -> Path:
    return identities.keys_dir().parent / "reseal" / "applied.json"


def verify_request(doc: dict[str, Any]) -> dict[str, Any]:
    """The request body once its signature, domain and deployment check and its signer is an active
    compute node of the registered cluster, at the index it names, whose registered key is `new_key`."""
    ledger = context.ledger()
    try:
        body, signature = doc["request"], doc["signature"]
        signer = Account.recover_message(encode_defunct(primitive=canonical_json(body)), signature=signature)
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"the reseal request is malformed or its signature unreadable: {exc}"
                                ) from None
    if body.get("domain") != DOMAIN:
        raise VerificationError(f"the request's domain is {body.get('domain')!r}, not {DOMAIN!r}")
    if signer != body.get("node"):
        raise VerificationError(f"the request names node {body.get('node')} but is signed by {signer}",
                                hint="a changed or forged request: ask the node for a fresh one")
    if body.get("chain_id") != ledger.w3.eth.chain_id or body.get("market") != ledger.market.address:
        raise VerificationError("the request is for another deployment (chain id or Market address differ)")
    require_active(signer, Role.COMPUTE_NODE, "the signer", "its reseal request is refused")
    index = ledger.registry.node_index(signer)
    if index is None or index != body.get("node_index"):
        raise VerificationError(f"{signer} is not node {body.get('node_index')} of the registered cluster")
    registered = bytes(ledger.registry.member(signer).encryption_key).hex()
    if registered != body.get("new_key"):
        raise VerificationError(f"the request re-seals to key {str(body.get('new_key'))[:16]}..., the "
                                f"Registry holds {registered[:16]}... for node {index}")
    return body


def apply_request(acting: str, request_file: Path, kind: str = "dataset") -> dict[str, Any]:
    """Verify a node's reseal request for the owner's `kind` listing ("dataset", or "model": an algorithm
    listing's secret model) and point the listing at the manifest with only that node's entry changed
    (same label, schema, rows, share hashes; the node's key and bundle CIDs new)."""
    try:
        doc = json.loads(Path(request_file).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the reseal request {request_file}: {exc}") from None
    body = verify_request(doc)
    if body.get("kind") != kind:
        command = "dx algorithm reseal" if body.get("kind") == "model" else "dx dataset reseal"
        raise InputError(f"the request re-seals a {body.get('kind')} listing, not a {kind} listing",
                         hint=f"apply it with `{command}`")
    ledger = context.ledger()
    client = context.client(acting)
    listing_id = int(body["listing_id"])
    what = f"{'dataset' if kind == 'dataset' else 'algorithm'} {listing_id}"
    listing = ledger.market.dataset(listing_id) if kind == "dataset" else ledger.market.algorithm(listing_id)
    if listing is None or listing.status != ListingStatus.ACTIVE:
        rule = "DatasetNotActive" if kind == "dataset" else "AlgorithmNotActive"
        raise InputError(f"{what} is not an active listing (rule: Market.{rule})")
    if listing.owner != client.account.address:
        raise InputError(f"{what} belongs to {listing.owner}, not to {acting}",
                         hint="only its owner applies a reseal (rule: Market.NotListingOwner)")
    applied_path = _used_nonces_path()
    applied = json.loads(applied_path.read_text()) if applied_path.exists() else []
    if body["nonce"] in applied:
        raise VerificationError(f"this reseal request (nonce {body['nonce']}) was applied already")
    digest = bytes(listing.manifest_hash if kind == "dataset" else listing.secret_params_hash)
    if "0x" + digest.hex() != body["old_manifest_hash"]:
        raise VerificationError(f"{what}'s manifest is no longer the one the request re-seals "
                                f"({body['old_manifest_hash'][:18]}...)",
                                hint="the listing changed since: ask the node to run `dx node reseal` again")
    manifest = Manifest.from_bytes(client.get_blob(cid_from_digest(digest)), digest)
    if manifest.kind != kind:
        raise VerificationError(f"{what}'s manifest holds a {manifest.kind}, not a {kind}")
    index = int(body["node_index"])
    resealed = _resealed(manifest, index, body, client.get_blob)
    manifest_bytes = resealed.to_bytes()
    metadata = json.loads(client.get_blob(listing.metadata_cid))
    try:
        if kind == "dataset":
            metadata["manifest_cid"] = cid_from_digest(resealed.digest())
            policy = load_policy(listing.policy_hash, client.get_blob)
            tx = client.update_dataset(listing_id, metadata, manifest_bytes, listing.price_per_use,
                                       listing.max_uses, listing.expires_at, policy)
        else:
            metadata["model_manifest_cid"] = client.put_blob(manifest_bytes)
            tx = client.update_algorithm(listing_id, metadata, listing.price_per_use, resealed.digest(),
                                         listing.max_uses)
    except ExchangeError as exc:
        rule = exc.contract_error
        raise RemoteError(f"the reseal of {what} was refused{f' ({rule})' if rule else ''}: "
                          f"{exc.problem.get('detail', exc)}") from None
    applied_path.parent.mkdir(parents=True, exist_ok=True)
    applied_path.write_text(json.dumps([*applied, body["nonce"]]))
    return {"kind": kind, "listing_id": listing_id, "node": body["node"], "node_index": index,
            "old_manifest_hash": body["old_manifest_hash"], "manifest_hash": "0x" + resealed.digest().hex(),
            "tx_hash": tx.get("tx_hash")}


def _resealed(manifest: Manifest, index: int, body: dict[str, Any], get_blob: Any) -> Manifest:
    """`manifest` with node `index`'s entry replaced as the request says, once every claim checks: the
    chunks it replaces are the manifest's (CIDs, share hashes, rows), each new bundle's clear header binds
    this listing and node and names the new key as recipient. No other entry changes."""
    mine = manifest.node(index)
    if mine.public_key != body["old_key"]:
        raise VerificationError(f"node {index}'s shares are sealed to {mine.public_key[:16]}..., not to the "
                                "request's old key")
    ctx = share_context(manifest.kind, manifest.label, index)
    new_arrays: dict[str, list[ChunkRef]] = {}
    claimed = body["shares"]
    if sorted(claimed) != sorted(mine.arrays):
        raise VerificationError(f"the request re-seals arrays {sorted(claimed)}, the manifest has "
                                f"{sorted(mine.arrays)}")
    for array, chunks in mine.arrays.items():
        given = claimed[array]
        if [(c["old_cid"], c["share_sha256"], c["rows"]) for c in given] != [
                (c.cid, c.share_sha256, c.rows) for c in chunks]:
            raise VerificationError(f"array {array!r}: the request's chunks are not the manifest's")
        new_arrays[array] = []
        for c in given:
            try:
                header = read_header(get_blob(c["new_cid"]))
            except (ExchangeError, EnvelopeError) as exc:
                raise VerificationError(f"bundle {c['new_cid']} cannot be read: {exc}") from None
            if header.context != ctx or header.recipient_id != key_id(bytes.fromhex(body["new_key"])):
                raise VerificationError(f"bundle {c['new_cid']} is not sealed to node {index}'s new key for "
                                        "this listing")
            new_arrays[array].append(ChunkRef(c["new_cid"], c["share_sha256"], int(c["rows"])))
    nodes = tuple(replace(n, public_key=body["new_key"], arrays=new_arrays) if n.index == index else n
                  for n in manifest.nodes)
    resealed = replace(manifest, nodes=nodes)
    resealed.validate()
    return resealed
