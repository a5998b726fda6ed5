"""Seller and algorithm-provider actions: share + seal + list datasets and models, decide on jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from dx import context, identities, output
from dx.actions.membership import require_active
from dx.actions.policies import policy_words
from dx.errors import InputError, RemoteError, VerificationError
from dx_core.roles import Role
from exchange_api.client import ExchangeError
from mpc_compute.manifest import Column, ManifestError
from mpc_compute.policy import DEFAULT_POLICY, Policy, describe

# The input client and the algorithm library load jax and spu (seconds): they are imported inside the
# functions that share or list.

ID_COLUMN = "enterprise_id"


def parse_schema(spec: str) -> list[Any]:
    """`name[:dtype[:role]]` items, comma-separated. Defaults: float64 feature; enterprise_id is text:id.

    Example: `enterprise_id,revenue,tax_paid,defaulted:int64:label`.
    """
    columns = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, *rest = item.split(":")
        default = ("text", "id") if name == ID_COLUMN else ("float64", "feature")
        dtype = rest[0] if rest else default[0]
        role = rest[1] if len(rest) > 1 else default[1]
        try:
            columns.append(Column(name, dtype, role))
        except ManifestError as exc:
            raise InputError(f"--schema item {item!r}: {exc}", hint="use name[:dtype[:role]]") from None
    if not columns:
        raise InputError("--schema names no column", hint="e.g. --schema enterprise_id,revenue,tax_paid")
    return columns


def _wait_listed(fetch, listing_id: int, timeout: float = 30.0) -> dict:
    """The catalog entry once the exchange's indexer has seen the listing transaction."""
    end = time.monotonic() + timeout
    while True:
        try:
            return fetch(listing_id)
        except ExchangeError as exc:
            if exc.status != 404 or time.monotonic() > end:
                raise
        time.sleep(0.3)


def publish_dataset(acting: str, file: Path, schema: str, price: int, max_uses: int, title: str,
                    description: str = "", tags: list[str] | None = None,
                    policy: Policy | None = None) -> dict:
    """Validate, secret-share and seal `file` for the cluster's nodes, upload, list it on-chain."""
    from mpc_compute.clients import input as input_client

    columns = parse_schema(schema)
    client = context.client(acting)
    require_active(client.account.address, Role.PROVIDER, acting, "it cannot publish a dataset")
    try:
        shared = input_client.share_dataset(Path(file), columns, context.cluster_keys(),
                                            context.blob_store(acting), progress=not output.json_mode())
    except input_client.InputValidationError as exc:
        raise InputError(f"{Path(file).name}: {exc}", hint="fix the file or the --schema") from None
    metadata = {"title": title, "description": description, "tags": tags or [],
                "columns": [{"name": c.name, "dtype": c.dtype, "role": c.role} for c in columns],
                "rows": shared.manifest.rows, "manifest_cid": shared.manifest_cid,
                "publisher": identities.info(acting).name}
    policy = policy or DEFAULT_POLICY
    unknown = sorted(set(policy.columns) - {c.name for c in columns})
    if unknown:
        raise InputError(f"the policy names columns {unknown} the schema does not have",
                         hint="--column NAME=RULE must name a --schema column")
    dataset_id = client.publish_dataset(metadata, shared.manifest_bytes, price, max_uses, policy=policy)
    listing = _wait_listed(client.dataset, dataset_id)
    return {"dataset_id": dataset_id, "title": title, "rows": shared.manifest.rows,
            "columns": [c.name for c in columns], "manifest_hash": "0x" + shared.manifest_hash.hex(),
            "manifest_cid": shared.manifest_cid, "price_wei": price, "max_uses": max_uses,
            "status": listing.get("status"), "policy_hash": "0x" + policy.chain_hash().hex(),
            "policy": describe(policy)}


def list_datasets(acting: str, mine: bool) -> list[dict]:
    client = context.client(acting)
    filters = {"owner": client.account.address} if mine else {}
    return client.search_datasets(page_size=100, **filters)["items"]


def show_dataset(acting: str, dataset_id: int) -> dict:
    listing = context.client(acting).dataset(dataset_id)
    return {**listing, "policy_rules": policy_words(listing)}


def delist_dataset(acting: str, dataset_id: int) -> dict:
    tx = context.client(acting).delist_dataset(dataset_id)
    return {"dataset_id": dataset_id, "tx_hash": tx.get("tx_hash"), "status": tx.get("status")}


def load_model(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """A model JSON (`weights`, `bias`, optional `features`/`name`) as the secret parameter `model`
    (weights then bias, one vector: what secret_model_score takes) + public info."""
    try:
        doc = json.loads(Path(path).read_text())
        vector = [*(float(w) for w in doc["weights"]), float(doc["bias"])]
        params = {"model": np.asarray(vector, dtype=np.float64)}
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a model JSON with weights and bias: {exc}",
                         hint="expected {\"weights\": [...], \"bias\": b, \"features\": [...]}") from None
    public = {"features": doc.get("features", []), "model": doc.get("name", Path(path).stem),
              "public_params": dict(doc.get("public_params") or {})}
    return params, public


def publish_algorithm(acting: str, algorithm: str, model: Path | None, price: int, max_uses: int,
                      title: str | None = None) -> dict:
    """List a library algorithm; with `model`, its parameters are secret-shared as the listing's secret."""
    from mpc_compute import algorithms

    alg = algorithms.ALGORITHMS.get(algorithm)
    if alg is None:
        raise InputError(f"no algorithm {algorithm!r} in the library",
                         hint="one of: " + ", ".join(sorted(algorithms.ALGORITHMS)))
    client = context.client(acting)
    require_active(client.account.address, Role.ALGORITHM_PROVIDER, acting, "it cannot publish an algorithm")
    metadata: dict[str, Any] = {"title": title or f"{alg.name} {alg.version}", "description": alg.description,
                                "tags": ["algorithm", alg.name], "algorithm": alg.name,
                                "outputs": list(alg.outputs)}
    secret_hash = b"\0" * 32
    if model is not None:
        params, public = load_model(model)
        from mpc_compute.clients.input import share_model

        fixed = public.pop("public_params")
        unknown = sorted(set(fixed) - set(alg.params_doc))
        if unknown:  # the model fixes its own public parameters; jobs must ask exactly these
            raise InputError(f"{model}: public_params {unknown} are not parameters of {alg.name}",
                             hint="known: " + ", ".join(sorted(alg.params_doc)))
        shared = share_model(params, context.cluster_keys(), context.blob_store(acting), public_params=fixed)
        client.put_blob(shared.manifest_bytes)
        secret_hash = shared.manifest_hash
        metadata.update({"model_manifest_cid": shared.manifest_cid, "public_params": fixed, **public})
        metadata["title"] = title or f"{public['model']} ({alg.name})"
    algorithm_id = client.publish_algorithm(metadata, alg.name, alg.version, alg.code_hash, price,
                                            secret_hash, max_uses)
    _wait_listed(client.algorithm, algorithm_id)
    return {"algorithm_id": algorithm_id, "algorithm": alg.name, "version": alg.version,
            "secret_params_hash": "0x" + secret_hash.hex(), "title": metadata["title"]}


def list_algorithms(acting: str) -> list[dict]:
    return context.client(acting).search_algorithms(page_size=100)["items"]


def _approval_check(acting: str) -> Any:
    """The owner's own check (mpc_compute.clients.approval): the chain of this stack's deployment file,
    blobs fetched from the exchange but each checked against its on-chain hash."""
    from mpc_compute.clients.approval import ApprovalCheck

    return ApprovalCheck(context.ledger(), context.client(acting).get_blob)


def pending_requests(acting: str) -> list[dict]:
    """Jobs waiting for the acting owner, each with what approving it means, recomputed from the chain
    ("review": lines of words), or why it cannot be approved ("refused")."""
    from mpc_compute.clients.approval import ApprovalRefused

    rows = context.client(acting).my_requests(status="requested")
    check = _approval_check(acting)
    owner = identities.load(acting).account.address
    for row in rows:
        try:
            row["review"] = check.review(int(row["id"]), owner).describe()
        except ApprovalRefused as exc:
            row["refused"] = str(exc)
    return rows


def decide(acting: str, job_id: int, approve: bool) -> dict:
    """Recompute the job from the chain, check the exchange's EIP-712 typed data against it, then sign
    the approval or decline locally; the exchange relays it. Any mismatch: nothing is signed or sent."""
    from mpc_compute.clients.approval import ApprovalRefused

    client = context.client(acting)
    shown: list[str] = []
    check = _approval_check(acting)
    check.show = lambda review: shown.extend(review.describe())
    try:
        res = client.approve_job(job_id, check=check) if approve else client.decline_job(job_id, check=check)
    except ApprovalRefused as exc:
        raise VerificationError(f"job {job_id}: {exc}", hint="the exchange served typed data or blobs "
                                "that do not match the chain; nothing was signed") from None
    except ExchangeError as exc:
        raise RemoteError(f"the exchange refused the {'approval' if approve else 'decline'} of job "
                          f"{job_id}: {exc.problem.get('detail', exc)}") from None
    job = res.get("job", {})
    return {"job_id": job_id, "decision": "approve" if approve else "decline", "status": job.get("status"),
            "waiting_for": res.get("waiting_for", []), "signed_for": shown,
            "relayed_tx": (res.get("relayed") or {}).get("tx_hash")}
