"""`dx datagen`: write the demo scenario's synthetic tables and models to a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dx import datagen, output
from dx.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("datagen")(datagen_command)


def datagen_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("demo-data"),
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 7,
    enterprises: Annotated[int, typer.Option(help="Population size.")] = datagen.Sizes.enterprises,
    applicants: Annotated[int, typer.Option(help="Bank A's labelled applicants.")] = datagen.Sizes.applicants,
    loans_per_bank: Annotated[int, typer.Option(help="Rows per loan book.")] = datagen.Sizes.loans_per_bank,
    shared_borrowers: Annotated[int, typer.Option(help="In both books.")] = datagen.Sizes.shared_borrowers,
    blacklist: Annotated[int, typer.Option(help="Enterprises on the blacklist.")] = datagen.Sizes.blacklist,
) -> None:
    """Generate the synthetic scenario: tax, telecom, two loan books, applicants, blacklist, models.

    [bold]Example:[/]  dx datagen --out demo-data --seed 7 --enterprises 300
    """
    try:
        sizes = datagen.Sizes(enterprises, applicants, loans_per_bank, shared_borrowers, blacklist)
    except ValueError as exc:
        raise InputError(f"bad sizes: {exc}", hint="see `dx datagen --help` for the constraints") from None
    scenario = datagen.generate(seed, sizes)
    paths = datagen.write(scenario, out)
    rows = {name: t.rows for name, t in scenario.tables.items()}
    result = {"seed": seed, "out": out, "files": paths, "rows": rows}

    def human() -> None:
        output.console.print(output.table(
            f"scenario seed={seed} in {out}", ["name", "file", "rows"],
            [(n, p, rows.get(n, "model")) for n, p in paths.items()],
        ))

    output.emit(result, human)
