"""Where the stack is and who acts: endpoints, the ledger, signed-in exchange clients, the cluster's keys."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from dx import deployment, identities
from dx.errors import ConfigError, InputError, StackError
from dx.stack import StackConfig, Supervisor
from dx_core.settings import get_settings
from exchange_api.client import ExchangeClient
from mpc_compute.blob_source import HttpBlobStore

# contracts is imported inside functions: it loads web3 (a quarter of a second that commands which
# never touch the chain should not pay).
if TYPE_CHECKING:
    from contracts import Ledger


def stack_config() -> StackConfig:
    """The running stack's endpoints (run/stack.json), else those the settings describe."""
    sup = Supervisor.load(get_settings())
    return sup.config if sup else StackConfig.from_settings(get_settings())


def api_url() -> str:
    return stack_config().api_url


def rpc_url() -> str:
    return stack_config().rpc_url


@cache
def ledger() -> Ledger:
    """The contracts of the stack's deployment."""
    from contracts import connect

    dep = deployment.load_deployment()
    if dep is None:
        raise StackError(f"no deployment file at {deployment.deployment_path()}",
                         hint="start the stack with `dx up` (it deploys the contracts)")
    return connect(rpc_url(), dep)


@cache
def client(name: str) -> ExchangeClient:
    """An exchange client signed in (SIWE) as the account `name`."""
    c = ExchangeClient(api_url(), identities.load(name).account)
    c.login()
    return c


def public_client() -> ExchangeClient:
    return ExchangeClient(api_url())


def blob_store(name: str) -> HttpBlobStore:
    """The exchange's blob routes as a blob source, signed in as `name` (uploads need a member)."""
    return HttpBlobStore(api_url(), token=client(name).token)


def cluster_keys() -> list[bytes]:
    """The X25519 keys of the registered cluster's three nodes, as the Registry records them."""
    reg = ledger().registry
    cluster = reg.cluster()
    if cluster is None:
        raise StackError("no compute cluster is registered yet", hint="run `dx cluster register` (operator)")
    keys = []
    for node in cluster.nodes:
        member = reg.member(node)
        if member is None:
            raise StackError(f"cluster node {node} is not a member", hint="run `dx cluster register` again")
        keys.append(member.encryption_key)
    return keys


def cluster_addresses() -> list[str]:
    cluster = ledger().registry.cluster()
    if cluster is None:
        raise StackError("no compute cluster is registered yet", hint="run `dx cluster register` (operator)")
    return list(cluster.nodes)


def resolve_member(who: str) -> tuple[str, bytes | None]:
    """(address, X25519 public key or None) of an account name on this machine or a 0x address."""
    if who.startswith("0x"):
        if len(who) != 42:
            raise InputError(f"{who!r} is not a 20-byte address", hint="pass 0x and 40 hex digits")
        return who, None
    try:
        info = identities.info(who)
    except ConfigError:
        raise InputError(f"no account named {who!r} on this machine",
                         hint="pass a 0x address, or list names with `dx account list`") from None
    return info.address, bytes.fromhex(info.x25519_public)
