"""`dx demo`: start the stack and play the whole exchange story from a fresh clone."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    small: Annotated[bool, typer.Option("--small", help="A smaller population.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic data.")] = 7,
    chain: Annotated[str | None, typer.Option("--chain", help="anvil (default) or ganache.")] = None,
    keep_running: Annotated[bool, typer.Option(
        "--keep-running/--stop",
        help="Leave the stack running afterwards (default: stop what the demo started).")] = False,
) -> None:
    """Play the story: members admitted, data and a secret model listed, jobs run under MPC, verdict.

    Also shows a request refused beyond a listing's max uses and a declined job that never runs; the
    regulator verifies the whole trail and prints each dataset's metered usage.

    [bold]Example:[/]  dx demo --small
    """
    from dx.demo.story import run

    run(small=small, seed=seed, chain=chain, keep_running=keep_running)
