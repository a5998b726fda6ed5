"""Operator actions: admit members, register the compute cluster (direct Registry transactions)."""

from __future__ import annotations

import json

import httpx

from dx import context, identities
from dx.errors import InputError, StackError
from dx.stack import StackConfig
from dx_core.blobstore import open_blob_store
from dx_core.roles import Role

# mpc_compute.spu_runtime is imported inside a function: it loads jax.


def role_names(mask: int) -> list[str]:
    """The roles set in `mask` as the CLI spells them (`algorithm-provider`, `compute-node`)."""
    return [r.cli_name for r in Role if mask & r]


def parse_roles(names: list[str]) -> int:
    """The role mask of CLI role names (dashed or snake_case); an unknown name is an InputError."""
    mask = 0
    for name in names:
        try:
            mask |= Role.parse(name)
        except ValueError:
            known = ", ".join(r.cli_name for r in Role)
            raise InputError(f"unknown role {name!r}", hint=f"one of: {known}") from None
    return int(mask)


def admit_member(acting: str, member: str, roles: list[str], x25519: str | None) -> dict:
    """Admit `member` (account name or address) with `roles`, or add the roles it lacks."""
    bits = parse_roles(roles)
    address, key = context.resolve_member(member)
    if x25519:
        try:
            key = bytes.fromhex(x25519.removeprefix("0x"))
        except ValueError:
            raise InputError(f"--x25519 {x25519!r} is not hex",
                             hint="pass the 32-byte key as 64 hex digits") from None
    operator = identities.load(acting).account
    reg = context.ledger().registry
    existing = reg.member(address)
    if existing is None:
        if key is None or len(key) != 32:
            raise InputError(f"admitting {address} needs its 32-byte X25519 key",
                             hint="pass --x25519 HEX, or admit an account name that exists on this machine")
        tx = reg.admit(operator, address, bits, key, "")
        changed = True
    elif int(existing.roles) & bits == bits:
        tx, changed = None, False
    else:
        bits |= int(existing.roles)
        tx, changed = reg.set_roles(operator, address, bits), True
    final = int(reg.member(address).roles)
    return {"member": member, "address": address, "roles": role_names(final), "changed": changed,
            "tx_hash": tx.tx_hash if tx else None}


def list_members(acting: str) -> list[dict]:
    """The accounts on this machine and their on-chain membership."""
    reg = context.ledger().registry
    out = []
    for acct in identities.list_accounts():
        m = reg.member(acct.address)
        out.append({"name": acct.name, "address": acct.address,
                    "roles": role_names(int(m.roles)) if m else [], "member": m is not None,
                    "suspended": bool(m.suspended) if m else False})
    return out


def _node_keys(cfg: StackConfig) -> list[dict]:
    nodes = []
    for i in range(3):
        url = f"http://127.0.0.1:{cfg.node_base_port + i}"
        try:
            keys = httpx.get(f"{url}/keys", timeout=10).json()
        except httpx.HTTPError as exc:
            raise StackError(f"compute node {i} does not answer at {url}: {type(exc).__name__}",
                             hint="start the stack with `dx up` and check `dx status`") from None
        nodes.append({"index": i, "address": keys["address"], "x25519_public": keys["x25519_public"],
                      "control_url": url, "spu_address": f"127.0.0.1:{cfg.spu_base_port + i}"})
    return nodes


def register_cluster(acting: str) -> dict:
    """Admit the three running nodes as compute nodes and register them as the cluster (idempotent)."""
    from mpc_compute import spu_runtime

    cfg = context.stack_config()
    nodes = _node_keys(cfg)
    operator = identities.load(acting).account
    reg = context.ledger().registry
    for n in nodes:
        m = reg.member(n["address"])
        if m is None:
            key = bytes.fromhex(n["x25519_public"])
            reg.admit(operator, n["address"], Role.COMPUTE_NODE, key, "")
        elif not int(m.roles) & Role.COMPUTE_NODE:
            reg.set_roles(operator, n["address"], int(m.roles) | Role.COMPUTE_NODE)
    addresses = [n["address"] for n in nodes]
    config_hash = spu_runtime.config_hash()
    current = reg.cluster()
    if current and list(current.nodes) == addresses and current.spu_config_hash == config_hash:
        return {"nodes": nodes, "version": current.version, "changed": False, "spu_config_hash": config_hash}
    # The endpoints document goes into the exchange's blob store (the operator runs it).
    endpoints_cid = open_blob_store().put(json.dumps({"nodes": nodes}, sort_keys=True).encode())
    reg.register_cluster(operator, addresses, endpoints_cid, config_hash, 0)
    return {"nodes": nodes, "version": reg.cluster_version(), "changed": True, "spu_config_hash": config_hash,
            "endpoints_cid": endpoints_cid}


def show_cluster(acting: str) -> dict:
    cluster = context.ledger().registry.cluster()
    if cluster is None:
        raise StackError("no compute cluster is registered yet", hint="run `dx cluster register` (operator)")
    return {"nodes": list(cluster.nodes), "version": cluster.version, "endpoints_cid": cluster.endpoints_cid,
            "spu_config_hash": cluster.spu_config_hash, "node_fee": cluster.node_fee}
