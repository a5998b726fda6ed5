"""Membership commands: `dx member suspend/reinstate` (operator), `dx account rotate-key` (a member)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from dx import output
from dx.commands.options import Acting

Member = Annotated[str, typer.Argument(help="Account name on this machine, or a 0x address.")]


def register(member_app: typer.Typer, account_app: typer.Typer) -> None:
    member_app.command("suspend")(suspend)
    member_app.command("reinstate")(reinstate)
    account_app.command("rotate-key")(rotate_key)


def suspend(member: Member, acting: Acting = "operator") -> None:
    """Suspend a member: it can no longer act in any role until reinstated (operator only).

    [bold]Example:[/]  dx member suspend telecom
    """
    from dx.actions import membership

    result = membership.set_suspended(acting, member, True)
    output.emit(result, lambda: output.console.print(f"suspended [bold]{member}[/] {result['address']}"))


def reinstate(member: Member, acting: Acting = "operator") -> None:
    """Lift a member's suspension (operator only).

    [bold]Example:[/]  dx member reinstate telecom
    """
    from dx.actions import membership

    result = membership.set_suspended(acting, member, False)
    output.emit(result, lambda: output.console.print(f"reinstated [bold]{member}[/] {result['address']}"))


def rotate_key(
    force: Annotated[bool, typer.Option("--force", help="Rotate a compute node's key too (read what it "
                                                          "takes first: the command says it).")] = False,
    acting: Acting = "bank-a",
) -> None:
    """Give your account a new X25519 key (sealed shares and results), registered on-chain.

    The old keystore is kept under keys/retired/: results of jobs requested before open only with it.
    A compute node is refused unless --force: its rotation makes every listing unreadable to it until
    each owner re-publishes (`dx dataset update ID --data FILE`).

    [bold]Example:[/]  dx account rotate-key --as bank-a
    """
    from dx.actions import membership

    result = membership.rotate_key(acting, force)

    def human() -> None:
        output.console.print(f"[bold]{acting}[/]: new X25519 key {result['new_key'][:16]}... registered "
                             f"(old keystore kept at {escape(result['retired_keystore'])})")
        for step in result["required_next"]:
            output.console.print(f"  [yellow]{escape(step)}[/]")

    output.emit(result, human)
