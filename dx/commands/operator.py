"""Operator commands: `dx member admit/list`, `dx cluster register/show`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dx import output
from dx.commands import node_serve, reseal
from dx.commands.options import Acting
from dx_core.roles import Role

member_app = typer.Typer(help="Members of the exchange (operator admits; anyone lists).",
                         no_args_is_help=True)
cluster_app = typer.Typer(help="The compute cluster: three nodes and their SPU config.", no_args_is_help=True)

# The --role choices, as the CLI spells the Registry's roles (provider, algorithm-provider, ...).
RoleName = StrEnum("RoleName", {r.name: r.cli_name for r in Role})


def register(app: typer.Typer) -> None:
    app.add_typer(member_app, name="member")
    app.add_typer(cluster_app, name="cluster")
    # A node host's `dx node serve` joins the `dx node` group (dx/commands/reseal.py makes it), registered
    # here beside the cluster it serves, so dx/cli.py's list stays as it is.
    node_serve.register(reseal.node_app)


@member_app.command("admit")
def admit(
    member: Annotated[str, typer.Argument(help="Account name on this machine, or a 0x address.")],
    role: Annotated[list[RoleName], typer.Option("--role", "-r", help="Role to grant (repeat for several).")],
    x25519: Annotated[str | None, typer.Option(help="X25519 public key (hex), by address.")] = None,
    acting: Acting = "operator",
) -> None:
    """Admit a member with one or more roles (operator only).

    [bold]Example:[/]  dx member admit bank-a --role provider --role buyer
    """

    from dx.actions.operator import admit_member

    result = admit_member(acting, member, [r.value for r in role], x25519)
    output.emit(result, lambda: output.console.print(
        f"admitted [bold]{member}[/] {result['address']} as {', '.join(r.value for r in role)}"))


@member_app.command("list")
def list_members(acting: Acting = "operator") -> None:
    """List the members registered on-chain with their roles.

    [bold]Example:[/]  dx member list
    """

    from dx.actions.operator import list_members

    rows = list_members(acting)
    output.emit(rows, lambda: output.console.print(output.table(
        "members", ["address", "roles", "name"],
        [(m["address"], ",".join(m["roles"]), m.get("name")) for m in rows])))


@cluster_app.command("register")
def register_cluster(
    node: Annotated[list[str] | None, typer.Option(
        "--node", help="I=HOST:SPU_PORT,CONTROL_URL: where node I is reached (repeat for 0, 1, 2; "
        "default: $DX_NODE_HOSTS, `;`-separated, else this machine's loopback ports).")] = None,
    node_key: Annotated[list[str] | None, typer.Option(
        "--node-key", help="I=ADDRESS,X25519_HEX of a node on another host (what `dx node serve "
        "--show-identity` prints there); default: the keystore in this data dir.")] = None,
    acting: Acting = "operator",
) -> None:
    """Register the three compute nodes and their endpoints as the cluster (operator only).

    [bold]Example:[/]  dx cluster register
    [bold]Nodes on their own hosts:[/]  dx cluster register --node 0=10.0.0.11:9200,http://10.0.0.11:9100
    --node-key 0=0xAbc...,5f3e... (and the same for nodes 1 and 2)
    """

    from dx.actions.operator import register_cluster

    result = register_cluster(acting, node, node_key)
    output.emit(result, lambda: output.console.print(
        "registered cluster: " + ", ".join(n["address"] for n in result["nodes"])))


@cluster_app.command("tls")
def cluster_tls(
    index: Annotated[int, typer.Argument(help="The node's index: 0, 1 or 2.", min=0, max=2)],
    host: Annotated[list[str], typer.Option("--host", help="A name or address peers dial it at (repeat).")],
    out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Directory to write the files in.")
                   ],
) -> None:
    """Issue node I's TLS files for a host of its own, signed by the cluster CA (operator only).

    Writes node-I.crt, node-I.key (0600) and ca.crt to --out; copy that directory to the node host by a
    secure channel and pass the three files to `dx node serve`. The CA key stays in <data_dir>/tls/.

    [bold]Example:[/]  dx cluster tls 1 --host 10.0.0.12 --out node1-tls
    """
    from dx.actions.operator import issue_node_tls

    result = issue_node_tls(index, host, out)
    output.emit(result, lambda: output.console.print(
        f"node {index}: {result['cert']}, {result['key']}, {result['ca']} (hosts {', '.join(host)})"))


@cluster_app.command("show")
def show_cluster(acting: Acting = "operator") -> None:
    """Show the registered compute cluster (nodes and SPU config hash).

    [bold]Example:[/]  dx cluster show
    """

    from dx.actions.operator import show_cluster

    output.emit(show_cluster(acting))
