"""`dx up`, `dx down`, `dx status`, `dx logs`: the local stack's lifecycle."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dx import output
from dx.errors import InputError, StackError
from dx.stack import ServiceStatus, StackConfig, Supervisor, services
from dx_core.settings import get_settings

STATE_STYLE = {"healthy": "green", "external": "green", "starting": "yellow", "stopped": "dim",
               "unavailable": "magenta", "unhealthy": "red"}


class ChainKind(StrEnum):
    anvil = "anvil"
    ganache = "ganache"


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
    app.command("logs")(logs)


def _status_table(rows: list[ServiceStatus]):
    return output.table(None, ["service", "state", "pid", "endpoint", "detail"], [
        (r.name, f"[{STATE_STYLE.get(r.state, 'white')}]{r.state}[/]", r.pid, r.endpoint, r.detail)
        for r in rows
    ])


def _supervisor() -> Supervisor:
    sup = Supervisor.load(get_settings())
    return sup or Supervisor(StackConfig.from_settings(get_settings()))


def _same_chain(a: StackConfig, b: StackConfig) -> bool:
    """Whether two configs name the same chain (a local one may move to another port)."""
    return a.chain == b.chain and (a.chain != "external" or a.rpc_url == b.rpc_url)


def bring_up(chain: str | None = None, rpc_url: str | None = None, timeout: float = 90.0,
             quiet: bool = False) -> dict:
    """Start the stack (used by `dx up` and `dx demo`); returns a summary for output."""
    from dx import deployment, identities

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
                     "api_url": config.api_url, "accounts": [], "deployment": None, "notes": []}

    def on_event(event: str, st: ServiceStatus) -> None:
        if not quiet and event != "starting":
            style = STATE_STYLE.get(st.state, "white")
            output.say(f"  [{style}]{st.state:>11}[/]  {st.name:<9} {st.endpoint or ''} {st.detail}")

    def after_chain() -> None:
        from dx.components import available

        if not available("ganache.launcher"):
            summary["notes"].append("demo keystores need ganache.launcher (not landed yet)")
            return
        for acct, created in identities.ensure_demo_cast():
            summary["accounts"].append({"name": acct.name, "address": acct.address, "created": created})
        if not available("contracts.deploy"):
            summary["notes"].append("contracts are not deployable yet (contracts/deploy.py has not landed)")
            return
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
    statuses = sup.up(on_event, after_chain, timeout)
    summary["services"] = statuses
    missing = [s.name for s in statuses if s.state == "unavailable"]
    if missing:
        summary["notes"].append("not available yet in this checkout: " + ", ".join(missing))
    return summary


def up(
    chain: Annotated[ChainKind | None, typer.Option("--chain", help="Chain to launch.")] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Use this running chain instead.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each service to be healthy.")] = 90.0,
) -> None:
    """Start the local stack: chain, contracts, exchange API, anchorer, three compute nodes.

    Deploys the contracts when the deployment file is missing or the chain has no code at its
    addresses, and creates the demo cast's encrypted keystores on first run. State persists in
    the data dir across `dx down` / `dx up`.

    [bold]Example:[/]  dx up --chain ganache
    """
    if chain is not None and rpc_url is not None:
        raise InputError("--chain and --rpc-url exclude each other",
                         hint="--rpc-url uses a chain that is already running")
    summary = bring_up(chain.value if chain else None, rpc_url, timeout)

    def human() -> None:
        for note in summary["notes"]:
            output.console.print(f"[yellow]note:[/] {note}")
        output.console.print(f"[green]stack is up[/] (data in {summary['data_dir']})")

    output.emit(summary, human)


def down(timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 15.0) -> None:
    """Stop every service of the local stack (state is kept; `dx up` resumes it).

    [bold]Example:[/]  dx down
    """
    sup = Supervisor.load(get_settings())
    stopped = sup.down(timeout) if sup else []
    result = {"stopped": [n for n, was in stopped if was]}
    output.emit(result, lambda: output.console.print(
        "stopped: " + (", ".join(result["stopped"]) or "nothing was running")))


def status() -> None:
    """Show each service's health: chain, API, anchorer, compute nodes.

    Exits 3 when a landed service is not healthy.

    [bold]Example:[/]  dx --json status
    """
    sup = _supervisor()
    rows = sup.status()
    output.emit({"data_dir": sup.config.data_dir, "services": rows},
                lambda: output.console.print(_status_table(rows)))
    if any(r.state in {"stopped", "starting", "unhealthy"} for r in rows):
        raise typer.Exit(3)


def logs(
    service: Annotated[str, typer.Argument(help="chain, api, anchorer, node-0, node-1 or node-2")],
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines from the end.")] = 40,
) -> None:
    """Print the end of a service's log (logs live in <data_dir>/logs/).

    [bold]Example:[/]  dx logs node-0 -n 100
    """
    sup = _supervisor()
    names = [s.name for s in services(sup.config)]
    if service not in names:
        raise InputError(f"no service named {service!r}", hint="one of: " + ", ".join(names))
    text = sup.tail(service, lines)
    output.emit({"service": service, "log": text}, lambda: output.console.print(output.escape(text)))
