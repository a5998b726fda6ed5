"""Bring the local stack up: the supervisor starts the services, and once the chain answers the demo
cast's keystores are made, the contracts deployed and the anchorer given its notarizer role."""

from __future__ import annotations

from dx import deployment, identities, output
from dx.errors import StackError
from dx.stack import STATE_STYLE, ServiceStatus, StackConfig, Supervisor
from dx_core.settings import get_settings


def _same_chain(a: StackConfig, b: StackConfig) -> bool:
    """Whether two configs name the same chain (a local one may move to another port)."""
    return a.chain == b.chain and (a.chain != "external" or a.rpc_url == b.rpc_url)


def bring_up(chain: str | None = None, rpc_url: str | None = None, timeout: float = 90.0,
             quiet: bool = False) -> dict:
    """Start the stack (used by `dx up` and `dx demo`); returns a summary for output."""
    settings = get_settings()
    previous = Supervisor.load(settings)
    if previous is not None and chain is None and rpc_url is None:
        # A plain `dx up` resumes the stack this data dir had: same chain kind (its state is there).
        if previous.config.chain == "external":
            rpc_url = previous.config.rpc_url
        else:
            chain = previous.config.chain
    config = StackConfig.from_settings(settings, chain, rpc_url)
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
                     "api_url": config.api_url, "accounts": [], "deployment": None}

    def on_event(event: str, st: ServiceStatus) -> None:
        if not quiet and event != "starting":
            style = STATE_STYLE.get(st.state, "white")
            output.say(f"  [{style}]{st.state:>11}[/]  {st.name:<9} {st.endpoint or ''} {st.detail}")

    def after_chain() -> None:
        for acct, created in identities.ensure_demo_cast():
            summary["accounts"].append({"name": acct.name, "address": acct.address, "created": created})
        operator = identities.load("operator").account
        dep, fresh = deployment.ensure_deployed(config.rpc_url, operator)
        deployment.grant_notarizer(config.rpc_url, dep, operator, identities.info("notarizer").address)
        summary["deployment"] = {"chain_id": dep.chain_id, "addresses": dep.addresses, "deployed_now": fresh,
                                 "file": str(deployment.deployment_path())}
        if not quiet:
            output.say(f"  {'deployed' if fresh else 'reusing':>11}  contracts on chain {dep.chain_id}: "
                       + ", ".join(f"{k}={v}" for k, v in dep.addresses.items()))

    if not quiet:
        output.say(f"starting the stack in {config.data_dir}")
    summary["services"] = sup.up(on_event, after_chain, timeout)
    return summary
