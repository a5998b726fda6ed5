"""Membership actions: the operator suspends and reinstates members; a member rotates its X25519 key."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from dx import context, identities
from dx.errors import InputError, RemoteError
from dx_core import keystore
from dx_core.roles import Role
from exchange_api.client import ExchangeError

# What rotating a compute node's key takes; `dx account rotate-key` refuses a node without --force and
# the README says the same. Every share bundle (each dataset listing's, each secret model's) is sealed to
# the node's key as registered when it was published, so after a rotation that node opens none of them.
NODE_ROTATION_STEPS = (
    "every dataset listing's share for this node is sealed to its old key: after the rotation the node "
    "opens none of them, and every job using such a listing fails on that node until the listing is "
    "re-published",
    "1. stop the stack's nodes (`dx down`), rotate, then start them again (`dx up`): a node loads its key "
    "only at start",
    "2. the node re-seals its own shares to its new key: `dx node reseal --as NODE` writes one signed "
    "request per listing, each owner applies its own with `dx dataset reseal FILE` (only that node's "
    "entry of the manifest changes); or an owner re-shares its data to the cluster's current keys: "
    "`dx dataset update ID --data FILE --schema ...` (a new manifest, same listing id, price and policy)",
    "3. a secret model's shares are sealed to the old key too: its provider applies the node's request "
    "for it with `dx algorithm reseal FILE` (or publishes the model again)",
    "4. jobs authorized before step 2 fail on that node; their buyers reclaim the escrow after the "
    "deadline (`dx job reclaim JOB`)",
)


def require_active(address: str, role: int, who: str, refused: str) -> None:
    """Refuse `refused` (what would be done) unless `address` is a member, not suspended, holding `role`
    (0: any), as the chain's Registry.isActive says. Checked before any data is shared or escrow locked:
    the chain would refuse later (NotActiveMember), after the uploads or with the escrow stuck."""
    m = context.ledger().registry.member(address)
    if m is not None and not m.suspended and int(m.roles) & role == role:
        return
    if m is None:
        state = "is not a member of the exchange"
    elif m.suspended:
        state = "is suspended by the operator"
    else:
        state = f"does not hold the {Role(role).label} role"
    raise RemoteError(f"{who} ({address}) {state}: {refused} (rule: NotActiveMember)",
                      hint="the operator reinstates a suspended member (`dx member reinstate`)"
                      if m is not None and m.suspended else "see `dx member list`")


def _member(address: str) -> Any:
    m = context.ledger().registry.member(address)
    if m is None:
        raise InputError(f"{address} is not a member of the exchange", hint="admit it with `dx member admit`")
    return m


def set_suspended(acting: str, member: str, suspended: bool) -> dict[str, Any]:
    """Suspend (`suspended`) or reinstate `member` (account name or address); operator only."""
    address, _ = context.resolve_member(member)
    operator = identities.load(acting).account
    reg = context.ledger().registry
    # The Registry's operator is its DEFAULT_ADMIN_ROLE holder; anyone else would only get a revert.
    if not reg.contract.functions.hasRole(b"\x00" * 32, operator.address).call():
        raise InputError(f"{acting} ({operator.address}) is not the exchange's operator: only the operator "
                         f"{'suspends' if suspended else 'reinstates'} members "
                         "(rule: Registry.AccessControlUnauthorizedAccount)", hint="run it --as operator")
    current = _member(address)
    word = "suspended" if suspended else "active"
    if bool(current.suspended) == suspended:
        raise InputError(f"{member} ({address}) is already {word}",
                         hint="see `dx member list`" if suspended else "suspend it first")
    tx = reg.suspend(operator, address) if suspended else reg.reinstate(operator, address)
    after = reg.member(address)
    return {"member": member, "address": address, "suspended": bool(after.suspended), "tx_hash": tx.tx_hash}


def _scrypt_n(path: Path) -> int:
    """The scrypt cost of the existing keystore, kept for its successor (the demo cast uses a cheap one)."""
    try:
        return int(json.loads(path.read_text())["x25519"]["kdfparams"]["n"])
    except (OSError, ValueError, KeyError, TypeError):
        return keystore.DEFAULT_SCRYPT_N


def rotate_key(acting: str, force: bool = False) -> dict[str, Any]:
    """A new X25519 key for the acting member: registered on-chain (Registry.rotateKey), then swapped into
    its keystore. The old keystore is kept under keys/retired/: results sealed to the old key (jobs
    requested before) open only with it. A compute node is refused unless `force` (NODE_ROTATION_STEPS)."""
    ident = identities.load(acting)
    address = ident.address
    member = _member(address)
    is_node = bool(int(member.roles) & Role.COMPUTE_NODE)
    if is_node and not force:
        raise InputError(f"{acting} is a compute node: rotating its key makes every listing unreadable to it "
                         "until each is re-published. What it takes: " + "; ".join(NODE_ROTATION_STEPS[1:]),
                         hint="pass --force once you are ready to do those steps")
    path = identities.path_of(acting)
    keys = identities.keys_dir()
    staged = keys / "rotating" / path.name
    retired = keys / "retired" / f"{path.stem}-{ident.x25519_public.hex()[:16]}.json"
    fresh = keystore.create(ident.account)
    password = identities.password(local=identities.demo_stack())
    keystore.save(fresh, staged, password, _scrypt_n(path))
    try:
        tx = context.client(acting).rotate_key(fresh.x25519_public)
    except ExchangeError as exc:
        staged.unlink(missing_ok=True)
        raise RemoteError(f"the key rotation of {acting} was refused: {exc.problem.get('detail', exc)}",
                          hint="nothing changed: the keystore still holds the registered key") from None
    # Any other failure (a lost connection) leaves the staged keystore in keys/rotating/: the tx may have
    # been mined, and then that file holds the registered key.
    retired.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, retired)
    os.replace(staged, path)
    registered = bytes(context.ledger().registry.member(address).encryption_key)
    if registered != fresh.x25519_public:
        raise RemoteError(f"the Registry holds {registered.hex()} for {acting}, not the new key",
                          hint=f"the old keystore is at {retired}")
    return {"account": acting, "address": address, "old_key": ident.x25519_public.hex(),
            "new_key": fresh.x25519_public.hex(), "retired_keystore": str(retired),
            "tx_hash": tx.get("tx_hash"), "compute_node": is_node,
            "required_next": list(NODE_ROTATION_STEPS) if is_node else []}
