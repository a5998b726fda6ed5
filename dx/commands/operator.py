"""Operator commands: `dx member admit/list`, `dx cluster register/show`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from dx import actions, output
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
    result = actions.admit_member(acting, member, [r.value for r in role], x25519)
    output.emit(result, lambda: output.console.print(
        f"admitted [bold]{member}[/] {result['address']} as {', '.join(r.value for r in role)}"))


@member_app.command("list")
def list_members(acting: Acting = "operator") -> None:
    """List the members registered on-chain with their roles.

    [bold]Example:[/]  dx member list
    """
    rows = actions.list_members(acting)
    output.emit(rows, lambda: output.console.print(output.table(
        "members", ["address", "roles", "name"],
        [(m["address"], ",".join(m["roles"]), m.get("name")) for m in rows])))


@cluster_app.command("register")
def register_cluster(acting: Acting = "operator") -> None:
    """Register the three running compute nodes as the cluster (operator only).

    [bold]Example:[/]  dx cluster register
    """
    result = actions.register_cluster(acting)
    output.emit(result, lambda: output.console.print(
        "registered cluster: " + ", ".join(n["address"] for n in result["nodes"])))


@cluster_app.command("show")
def show_cluster(acting: Acting = "operator") -> None:
    """Show the registered compute cluster (nodes and SPU config hash).

    [bold]Example:[/]  dx cluster show
    """
    output.emit(actions.show_cluster(acting))
