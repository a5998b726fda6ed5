"""Operator actions: admit members, register the compute cluster (direct Registry transactions)."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from eth_utils import is_address, to_checksum_address

from dx import context, identities, tls
from dx.errors import InputError, StackError
from dx.stack import NODE_HOSTS_ENV, StackConfig
from dx_core import keystore
from dx_core.blobstore import open_blob_store
from dx_core.cid import cid_for_bytes
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


@dataclass(frozen=True)
class NodeEndpoint:
    """Where one node is reached: the SPU link its peers dial and the control URL the operator calls."""

    index: int
    spu_address: str  # host:port
    control_url: str

    @property
    def on_this_machine(self) -> bool:
        """Whether the node's SPU link is a loopback address (the one-machine stack's nodes)."""
        host = self.spu_address.rpartition(":")[0].strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def parse_node_endpoint(text: str) -> NodeEndpoint:
    """`I=HOST:SPU_PORT,CONTROL_URL` (the `--node` flag, one entry of DX_NODE_HOSTS) as a NodeEndpoint."""
    hint = "write it as I=HOST:SPU_PORT,CONTROL_URL, e.g. 0=10.0.0.11:9200,http://10.0.0.11:9100"
    index, sep, rest = text.strip().partition("=")
    spu, comma, control = rest.partition(",")
    if not sep or not comma or index.strip() not in ("0", "1", "2"):
        raise InputError(f"node endpoint {text!r} is not I=HOST:SPU_PORT,CONTROL_URL with I in 0, 1, 2",
                         hint=hint)
    host, colon, port = spu.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"node {index}'s SPU address {spu!r} is not HOST:PORT", hint=hint)
    if host in ("0.0.0.0", "::", "[::]"):
        # peers dial this address: a wildcard is a bind address, not one anyone can reach
        raise InputError(f"node {index}'s SPU address {spu!r} is a wildcard, not an address peers can dial",
                         hint=hint)
    parsed = urlsplit(control.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"node {index}'s control URL {control!r} is not an http(s) URL", hint=hint)
    return NodeEndpoint(int(index), spu.strip(), control.strip().rstrip("/"))


def node_endpoints(cfg: StackConfig, given: list[str] | None = None) -> list[NodeEndpoint]:
    """The three nodes' endpoints: `given` (`--node`), else DX_NODE_HOSTS (the same entries, `;`
    separated), else the one-machine stack's loopback ports. Given entries must name each node once."""
    entries = list(given or [])
    if not entries and os.environ.get(NODE_HOSTS_ENV, "").strip():
        entries = [e for e in os.environ[NODE_HOSTS_ENV].split(";") if e.strip()]
    if not entries:
        return [NodeEndpoint(i, f"127.0.0.1:{cfg.spu_base_port + i}",
                             f"http://127.0.0.1:{cfg.node_base_port + i}") for i in range(3)]
    parsed = [parse_node_endpoint(e) for e in entries]
    indexes = sorted(e.index for e in parsed)
    if indexes != [0, 1, 2]:
        raise InputError(f"node endpoints name nodes {indexes}: each of 0, 1, 2 needs exactly one",
                         hint="pass --node once per node (or three `;`-separated entries in DX_NODE_HOSTS)")
    return sorted(parsed, key=lambda e: e.index)


def _node_keys(cfg: StackConfig, endpoints: list[NodeEndpoint], given: list[str] | None = None) -> list[dict]:
    """The three nodes' public keys and endpoints. Keys: `given` (`--node-key I=ADDRESS,X25519_HEX`, what
    `dx node serve --show-identity` prints on a node host), else the public part of the keystores in the
    stack's data dir (the files the one-machine stack's nodes load). No node's control API is asked: a
    key learned over the network could be an attacker's."""
    keys: dict[int, tuple[str, str]] = {}
    for text in given or []:
        index, _, rest = text.partition("=")
        address, _, x25519 = rest.partition(",")
        x25519 = x25519.strip().removeprefix("0x")
        if index.strip() not in ("0", "1", "2") or not is_address(address.strip()) or len(x25519) != 64:
            raise InputError(f"node key {text!r} is not I=ADDRESS,X25519_HEX (a 0x address, 64 hex digits)",
                             hint="copy the line `dx node serve --show-identity` prints on the node's host")
        try:
            bytes.fromhex(x25519)
        except ValueError:
            raise InputError(f"node key {text!r}: the X25519 key is not hex") from None
        keys[int(index)] = (to_checksum_address(address.strip()), x25519.lower())
    nodes = []
    for ep in endpoints:
        i = ep.index
        if i in keys:
            address, x25519_hex = keys[i]
        elif not ep.on_this_machine:
            # A keystore here is not the key node i holds on its host: sellers would seal shares to a key
            # the operator has, and the node could open none of them.
            raise InputError(f"node {i} is on another host ({ep.spu_address}): its key must come from there",
                             hint=f"pass --node-key {i}=ADDRESS,X25519_HEX, the line `dx node serve {i} "
                             "--show-identity` prints on the node's host")
        else:
            path = Path(cfg.data_dir) / "keys" / f"node-{i}.json"
            try:
                address, x25519_public = keystore.public_info(path)
            except (OSError, ValueError, KeyError) as exc:
                raise StackError(f"compute node {i}'s keystore {path} cannot be read: {type(exc).__name__}",
                                 hint="start the stack with `dx up` (it creates the node keystores), or pass "
                                 "--node-key I=ADDRESS,X25519_HEX for a node on another host") from None
            x25519_hex = x25519_public.hex()
        nodes.append({"index": i, "address": address, "x25519_public": x25519_hex,
                      "control_url": ep.control_url, "spu_address": ep.spu_address})
    return nodes


def register_cluster(acting: str, node: list[str] | None = None, node_key: list[str] | None = None) -> dict:
    """Admit the three nodes as compute nodes and register them as the cluster (idempotent). `node`:
    their endpoints (`I=HOST:SPU_PORT,CONTROL_URL`, default DX_NODE_HOSTS or loopback); `node_key`: keys
    of nodes whose keystores are on other hosts."""
    from mpc_compute import spu_runtime

    cfg = context.stack_config()
    nodes = _node_keys(cfg, node_endpoints(cfg, node), node_key)
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
    document = json.dumps({"nodes": nodes}, sort_keys=True).encode()
    current = reg.cluster()
    # Same nodes at new endpoints (a node moved host) is a new cluster version: peers and clients read the
    # endpoints from the registered document only.
    if (current and list(current.nodes) == addresses and current.spu_config_hash == config_hash
            and current.endpoints_cid == cid_for_bytes(document)):
        return {"nodes": nodes, "version": current.version, "changed": False, "spu_config_hash": config_hash}
    # The endpoints document goes into the exchange's blob store (the operator runs it).
    endpoints_cid = open_blob_store().put(document)
    reg.register_cluster(operator, addresses, endpoints_cid, config_hash, 0)
    return {"nodes": nodes, "version": reg.cluster_version(), "changed": True, "spu_config_hash": config_hash,
            "endpoints_cid": endpoints_cid}


def issue_node_tls(index: int, hosts: list[str], out_dir: Path) -> dict:
    """Node `index`'s TLS files for a host of its own, in `out_dir`: a certificate for `hosts` signed by the
    stack's cluster CA (made on first use in <data_dir>/tls/), its key, and the CA certificate. The CA key
    never leaves the operator's data dir; the directory goes to the node host by a secure copy."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if index not in (0, 1, 2):
        raise InputError(f"node index {index} is not 0, 1 or 2")
    if not hosts:
        raise InputError("a node certificate needs the host name or address its peers dial",
                         hint="pass --host once per name, e.g. --host 10.0.0.11 --host node1.example")
    cfg = context.stack_config()
    tls.ensure_cluster_tls(cfg.data_dir, 3)
    ca_dir = tls.tls_dir(cfg.data_dir)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise StackError(f"the cluster CA key in {ca_dir} is not an EC key",
                         hint="remove the tls/ directory and run `dx up`")
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)
    paths = tls.NodeTls(out_dir / f"node-{index}.crt", out_dir / f"node-{index}.key", out_dir / "ca.crt")
    tls.issue_node_cert(ca_key, ca_cert, paths, f"dx-node-{index}", tuple(hosts))
    paths.ca.write_bytes((ca_dir / "ca.crt").read_bytes())
    return {"index": index, "hosts": list(hosts), "cert": str(paths.cert), "key": str(paths.key),
            "ca": str(paths.ca)}


def show_cluster(acting: str) -> dict:
    cluster = context.ledger().registry.cluster()
    if cluster is None:
        raise StackError("no compute cluster is registered yet", hint="run `dx cluster register` (operator)")
    return {"nodes": list(cluster.nodes), "version": cluster.version, "endpoints_cid": cluster.endpoints_cid,
            "spu_config_hash": cluster.spu_config_hash, "node_fee": cluster.node_fee}
