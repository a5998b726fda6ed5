"""Bring the local stack up: the supervisor starts the services, and once the chain answers the keys are
settled, the contracts deployed and the anchorer given its notarizer role.

Keys: on the stack's own local dev chain the demo cast and the services use the public dev keys. On
any other chain (`--rpc-url`) they never do: the stack runs with the keys it is given or fresh random
keystores, refuses a public dev key, and stops before deploying while an account has no funds, naming
the addresses to fund.
"""

from __future__ import annotations

from dx import deployment, identities, output
from dx.errors import StackError
from dx.stack import STATE_STYLE, ServiceStatus, StackConfig, Supervisor, is_local_dev_chain, rpc_alive
from dx_core.settings import get_settings


def _same_chain(a: StackConfig, b: StackConfig) -> bool:
    """Whether two configs name the same chain (a local one may move to another port)."""
    return a.chain == b.chain and (a.chain != "external" or a.rpc_url == b.rpc_url)


def _unfunded(rpc_url: str, accounts: list[identities.StackAccount]) -> list[identities.StackAccount]:
    from contracts import web3_at

    w3 = web3_at(rpc_url)
    return [a for a in accounts if w3.eth.get_balance(w3.to_checksum_address(a.address)) == 0]


def bring_up(chain: str | None = None, rpc_url: str | None = None, timeout: float = 90.0,
             quiet: bool = False, spu_tls: bool = True) -> dict:
    """Start the stack (used by `dx up` and `dx demo`); returns a summary for output. `spu_tls=False`
    (`--insecure-spu-links`) links the nodes in plaintext, for debugging only."""
    settings = get_settings()
    previous = Supervisor.load(settings)
    if previous is not None and chain is None and rpc_url is None:
        # A plain `dx up` resumes the stack this data dir had: same chain kind (its state is there).
        if previous.config.chain == "external":
            rpc_url = previous.config.rpc_url
        else:
            chain = previous.config.chain
    config = StackConfig.from_settings(settings, chain, rpc_url, spu_tls)
    if previous is not None and not _same_chain(previous.config, config):
        if any(s.state in {"healthy", "starting"} for s in previous.status()
               if s.name != "chain" or previous.config.chain != "external"):
            raise StackError(f"a stack is already running here on {previous.config.chain} at "
                             f"{previous.config.rpc_url}", hint="run `dx down` first to change chains")
        # The database, deployment and blobs in this data dir describe the other chain's state.
        raise StackError(f"{config.data_dir} holds the state of a {previous.config.chain} chain at "
                         f"{previous.config.rpc_url}",
                         hint="run plain `dx up` to resume it, or use another --data-dir for a new chain")
    sup = Supervisor(config)
    summary: dict = {"data_dir": config.data_dir, "chain": config.chain, "rpc_url": config.rpc_url,
                     "api_url": config.api_url, "accounts": [], "deployment": None, "spu_tls": config.spu_tls}
    if not config.own_chain:
        # Asked (or read) once, before anything starts; the services get the same password.
        sup.keystore_password = identities.password(
            new=not all(identities.path_of(n).exists() for n in identities.STACK_ACCOUNTS), local=False)

    def on_event(event: str, st: ServiceStatus) -> None:
        if not quiet and event != "starting":
            style = STATE_STYLE.get(st.state, "white")
            output.say(f"  [{style}]{st.state:>11}[/]  {st.name:<9} {st.endpoint or ''} {st.detail}")

    def after_chain() -> None:
        chain_id = rpc_alive(config.rpc_url, timeout=10.0)
        if chain_id is None:
            # never guess: an unknown chain would take the real-chain path and mint fresh keys here
            raise StackError(f"the chain at {config.rpc_url} stopped answering",
                             hint="check it, then `dx up` again")
        if is_local_dev_chain(config, chain_id):
            for acct, created in identities.ensure_demo_cast():
                summary["accounts"].append({"name": acct.name, "address": acct.address, "created": created})
            notarizer = identities.info("notarizer").address
        else:
            accounts = identities.ensure_stack_accounts(chain_id)
            summary["accounts"] = [{"name": a.name, "address": a.address, "created": a.created,
                                    "source": a.source} for a in accounts]
            notarizer = next(a.address for a in accounts if a.name == "notarizer")
            unfunded = _unfunded(config.rpc_url, accounts)
            if unfunded:
                listing = ", ".join(f"{a.name} {a.address}" for a in unfunded)
                if not quiet:
                    output.say(f"  fund these accounts on chain {chain_id}, then run `dx up` again:")
                    for a in unfunded:
                        output.say(f"    {a.name:<10} {a.address}")
                raise StackError(f"accounts without funds on chain {chain_id}: {listing}",
                                 hint="send them gas money (the operator deploys the contracts), then run "
                                      "`dx up` again; nothing was started")
        operator = identities.load("operator").account
        dep, fresh = deployment.ensure_deployed(config.rpc_url, operator)
        deployment.grant_notarizer(config.rpc_url, dep, operator, notarizer)
        summary["deployment"] = {"chain_id": dep.chain_id, "addresses": dep.addresses, "deployed_now": fresh,
                                 "file": str(deployment.deployment_path())}
        if not quiet:
            output.say(f"  {'deployed' if fresh else 'reusing':>11}  contracts on chain {dep.chain_id}: "
                       + ", ".join(f"{k}={v}" for k, v in dep.addresses.items()))

    if not quiet:
        output.say(f"starting the stack in {config.data_dir}")
    summary["services"] = sup.up(on_event, after_chain, timeout)
    return summary
