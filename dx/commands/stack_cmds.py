"""`dx up`, `dx down`, `dx status`, `dx logs`: the local stack's lifecycle."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from dx import output
from dx.errors import InputError

# dx.stack loads the keystore's crypto and eth_account, the settings pydantic: imported when a command
# runs, so that `dx --help` stays light.
if TYPE_CHECKING:
    from dx.stack import ServiceStatus, Supervisor


class ChainKind(StrEnum):
    anvil = "anvil"
    ganache = "ganache"


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
    app.command("logs")(logs)


def _status_table(rows: list[ServiceStatus]) -> Table:
    from dx.stack import STATE_STYLE

    return output.table(None, ["service", "state", "pid", "endpoint", "detail"], [
        (r.name, f"[{STATE_STYLE.get(r.state, 'white')}]{r.state}[/]", r.pid, r.endpoint, r.detail)
        for r in rows
    ])


def _supervisor() -> Supervisor:
    from dx.stack import StackConfig, Supervisor
    from dx_core.settings import get_settings

    sup = Supervisor.load(get_settings())
    return sup or Supervisor(StackConfig.from_settings(get_settings()))


def up(
    chain: Annotated[ChainKind | None, typer.Option("--chain", help="Chain to launch.")] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Use this running chain instead.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each service to be healthy.")] = 90.0,
    insecure_spu_links: Annotated[bool, typer.Option(
        "--insecure-spu-links", help="Link the compute nodes without TLS (debugging only).")] = False,
) -> None:
    """Start the local stack: chain, contracts, exchange API, anchorer, three compute nodes.

    Deploys the contracts when the deployment file is missing or the chain has no code at its
    addresses, and creates the demo cast's encrypted keystores on first run. State persists in
    the data dir across `dx down` / `dx up`. The nodes' SPU links run TLS with a CA and per-node
    certificates made in <data_dir>/tls/.

    With --rpc-url the public dev keys are never used: the stack takes the keystores in
    <data_dir>/keys/ (or $DX_RELAYER_KEY, $DX_NOTARIZER_KEY), creates fresh ones for the rest, refuses
    any dev key, and names the accounts to fund before it deploys.

    [bold]Example:[/]  dx up --chain ganache
    """
    if chain is not None and rpc_url is not None:
        raise InputError("--chain and --rpc-url exclude each other",
                         hint="--rpc-url uses a chain that is already running")
    from dx.actions.stack import bring_up

    summary = bring_up(chain.value if chain else None, rpc_url, timeout, spu_tls=not insecure_spu_links)

    output.emit(summary, lambda: output.console.print(
        f"[green]stack is up[/] (data in {summary['data_dir']})"))


def down(timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 15.0) -> None:
    """Stop every service of the local stack (state is kept; `dx up` resumes it).

    [bold]Example:[/]  dx down
    """
    from dx.stack import Supervisor
    from dx_core.settings import get_settings

    sup = Supervisor.load(get_settings())
    stopped = sup.down(timeout) if sup else []
    result = {"stopped": [n for n, was in stopped if was]}
    output.emit(result, lambda: output.console.print(
        "stopped: " + (", ".join(result["stopped"]) or "nothing was running")))


def status() -> None:
    """Show each service's health: chain, API, anchorer, compute nodes.

    Exits 3 when a service is not healthy.

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
    from dx.stack import services

    names = [s.name for s in services(sup.config)]
    if service not in names:
        raise InputError(f"no service named {service!r}", hint="one of: " + ", ".join(names))
    text = sup.tail(service, lines)
    output.emit({"service": service, "log": text}, lambda: output.console.print(output.escape(text)))
