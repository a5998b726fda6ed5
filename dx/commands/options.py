"""Option types shared by several commands (Annotated typer options)."""

from __future__ import annotations

from typing import Annotated

import typer

ACTING_AS_HELP = "Account (keystore name) to act as; default $DX_ACCOUNT or the role's demo member."

Acting = Annotated[str, typer.Option("--as", envvar="DX_ACCOUNT", help=ACTING_AS_HELP)]
JobId = Annotated[int, typer.Argument(help="Job id.")]
DatasetId = Annotated[int, typer.Argument(help="Dataset id.")]
Price = Annotated[int, typer.Option("--price", help="Price per use, in wei.")]
MaxUses = Annotated[int, typer.Option("--max-uses", help="How many jobs may use it.")]
