"""`dx datagen`: write the demo scenario's synthetic tables and models to a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dx import output
from dx.errors import InputError

# dx.datagen loads numpy: imported when the command runs. The sizes default to None so that their
# defaults live in one place, datagen.Sizes, and --help need not import it to show them.


def register(app: typer.Typer) -> None:
    app.command("datagen")(datagen_command)


def datagen_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("demo-data"),
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 7,
    enterprises: Annotated[int | None, typer.Option(
        help="Population size (default: the demo's).", show_default=False)] = None,
    applicants: Annotated[int | None, typer.Option(
        help="Bank A's labelled applicants (default: the demo's).", show_default=False)] = None,
    loans_per_bank: Annotated[int | None, typer.Option(
        help="Rows per loan book (default: the demo's).", show_default=False)] = None,
    shared_borrowers: Annotated[int | None, typer.Option(
        help="In both books (default: the demo's).", show_default=False)] = None,
    blacklist: Annotated[int | None, typer.Option(
        help="Enterprises on the blacklist (default: the demo's).", show_default=False)] = None,
) -> None:
    """Generate the synthetic scenario: tax, telecom, two loan books, applicants, blacklist, models.

    [bold]Example:[/]  dx datagen --out demo-data --seed 7 --enterprises 300
    """
    from dx import datagen

    given = {"enterprises": enterprises, "applicants": applicants, "loans_per_bank": loans_per_bank,
             "shared_borrowers": shared_borrowers, "blacklist": blacklist}
    try:
        sizes = datagen.Sizes(**{k: v for k, v in given.items() if v is not None})
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
