"""Seller and algorithm-provider commands: datasets, algorithms, pending requests, approve/decline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dx import actions, output
from dx.commands.options import Acting, DatasetId, JobId, MaxUses, Price

dataset_app = typer.Typer(help="Datasets: publish (secret-share, seal, upload, list on-chain), list, show, "
                               "delist.", no_args_is_help=True)
algorithm_app = typer.Typer(help="Algorithms and secret models offered by algorithm providers.",
                            no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
    app.add_typer(algorithm_app, name="algorithm")
    app.command("requests")(requests)
    app.command("approve")(approve)
    app.command("decline")(decline)


@dataset_app.command("publish")
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, enterprise_id column.")],
    schema: Annotated[str, typer.Option("--schema", help="Columns: name[:dtype[:role]],...")],
    price: Price = 0,
    max_uses: MaxUses = 10,
    title: Annotated[str | None, typer.Option("--title", help="Catalog title (default: file name).")] = None,
    acting: Acting = "tax-bureau",
) -> None:
    """Secret-share a dataset for the three nodes, seal each share to its node, upload, list on-chain.

    No plaintext row leaves this machine: only sealed shares and the manifest commitment do.

    [bold]Example:[/]  dx dataset publish tax.csv --schema enterprise_id,revenue,tax_paid --max-uses 5
    """

    result = actions.publish_dataset(acting, file, schema, price, max_uses, title or file.stem)
    output.emit(result, lambda: output.console.print(
        f"listed dataset [bold]#{result['dataset_id']}[/] ({result['rows']} rows: "
        f"{', '.join(result['columns'])})"))


@dataset_app.command("list")
def list_datasets(mine: Annotated[bool, typer.Option(help="Only the acting account's datasets.")] = False,
                  acting: Acting = "tax-bureau") -> None:
    """List dataset listings with their price, uses and status.

    [bold]Example:[/]  dx dataset list --mine --as telecom
    """

    rows = actions.list_datasets(acting, mine)
    output.emit(rows, lambda: output.console.print(actions.listing_table("datasets", rows)))


@dataset_app.command("show")
def show_dataset(dataset_id: DatasetId, acting: Acting = "tax-bureau") -> None:
    """Show one listing: owner, schema, manifest commitment, uses so far.

    [bold]Example:[/]  dx dataset show 1
    """

    output.emit(actions.show_dataset(acting, dataset_id))


@dataset_app.command("delist")
def delist(dataset_id: DatasetId, acting: Acting = "tax-bureau") -> None:
    """Withdraw a listing: no new job may use it.

    [bold]Example:[/]  dx dataset delist 3 --as telecom
    """

    result = actions.delist_dataset(acting, dataset_id)
    output.emit(result, lambda: output.console.print(f"delisted dataset #{dataset_id}"))


@algorithm_app.command("publish")
def publish_algorithm(
    algorithm: Annotated[str, typer.Argument(help="Algorithm of the library, e.g. secret_model_score.")],
    model: Annotated[Path | None, typer.Option("--model", exists=True, dir_okay=False,
                                               help="Model JSON (weights, bias): the secret input.")] = None,
    price: Price = 0,
    max_uses: MaxUses = 10,
    acting: Acting = "model-vendor",
) -> None:
    """List an algorithm, optionally with a secret model whose parameters are secret-shared.

    [bold]Example:[/]  dx algorithm publish secret_model_score --model credit_model.json --price 500
    """

    result = actions.publish_algorithm(acting, algorithm, model, price, max_uses)
    output.emit(result, lambda: output.console.print(f"listed algorithm [bold]#{result['algorithm_id']}[/]"))


@algorithm_app.command("list")
def list_algorithms(acting: Acting = "model-vendor") -> None:
    """List algorithm listings.

    [bold]Example:[/]  dx algorithm list
    """

    rows = actions.list_algorithms(acting)
    output.emit(rows, lambda: output.console.print(actions.listing_table("algorithms", rows)))


def requests(acting: Acting = "tax-bureau") -> None:
    """Jobs waiting for the acting account's approval.

    [bold]Example:[/]  dx requests --as telecom
    """

    rows = actions.pending_requests(acting)
    output.emit(rows, lambda: output.console.print(actions.jobs_table("waiting for your approval", rows)))


def approve(job_id: JobId, acting: Acting = "tax-bureau") -> None:
    """Approve a job that uses your listing (an EIP-712 signature; the exchange relays it).

    [bold]Example:[/]  dx approve 4 --as telecom
    """

    result = actions.decide(acting, job_id, approve=True)
    output.emit(result, lambda: output.console.print(f"approved job #{job_id}"))


def decline(job_id: JobId, acting: Acting = "tax-bureau") -> None:
    """Decline a job that uses your listing: it will never run.

    [bold]Example:[/]  dx decline 4 --as telecom
    """

    result = actions.decide(acting, job_id, approve=False)
    output.emit(result, lambda: output.console.print(f"declined job #{job_id}"))
