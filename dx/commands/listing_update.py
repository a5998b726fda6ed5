"""`dx dataset update`: a listing's price, max uses, expiry, or new data under the same listing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dx import output
from dx.commands.options import Acting, DatasetId


def register(dataset_app: typer.Typer) -> None:
    dataset_app.command("update")(update)


def update(
    dataset_id: DatasetId,
    price: Annotated[int | None, typer.Option("--price", min=0, help="New price per use, in wei.")] = None,
    max_uses: Annotated[int | None, typer.Option(
        "--max-uses", min=0, help="New use limit (0: unlimited; not below the uses so far).")] = None,
    expires: Annotated[str | None, typer.Option(
        "--expires", help="never, +30d / +12h (from the chain's time), a unix time, or an ISO date.")] = None,
    data: Annotated[Path | None, typer.Option("--data", exists=True, dir_okay=False,
                                              help="New data: shared and sealed to the cluster's current "
                                                   "keys, the listing points at the new manifest.")] = None,
    schema: Annotated[str | None, typer.Option(
        "--schema", help="Schema of --data (default: the listing's columns).")] = None,
    acting: Acting = "tax-bureau",
) -> None:
    """Change a dataset listing's terms, or re-publish new data under it (same id, policy kept).

    Use `dx dataset policy` to change its policy.

    [bold]Example:[/]  dx dataset update 1 --price 1500 --max-uses 10 --expires +90d --as tax-bureau
    """
    from dx.actions import listings

    result = listings.update_dataset(acting, dataset_id, price, max_uses, expires, data, schema)

    def human() -> None:
        output.console.print(
            f"dataset [bold]#{dataset_id}[/]: price {result['price_wei']} wei, max uses "
            f"{result['max_uses'] or 'unlimited'} ({result['uses']} used), "
            f"expires {result['expires'] or 'never'}"
            + (f", new data: {result['rows']} rows, manifest {result['manifest_hash'][:18]}..."
               if result["republished"] else ""))
        for line in result["policy"]:
            output.console.print(f"  policy: {escape(line)}")

    output.emit(result, human)
