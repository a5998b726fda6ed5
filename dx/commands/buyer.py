"""Buyer commands: `dx catalog search`, `dx job request/status/result`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dx import output
from dx.commands.options import Acting, JobId

catalog_app = typer.Typer(help="The catalog of datasets and algorithms.", no_args_is_help=True)
job_app = typer.Typer(help="Compute jobs: request, follow, fetch and reconstruct the result.",
                      no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(job_app, name="job")


@catalog_app.command("search")
def search(query: Annotated[str, typer.Argument(help="Words to match in titles and schemas.")] = "",
           acting: Acting = "bank-a") -> None:
    """Search listed datasets and algorithms.

    [bold]Example:[/]  dx catalog search revenue
    """

    from dx.actions.buyer import search_catalog
    from dx.actions.tables import listing_table

    rows = search_catalog(acting, query)
    output.emit(rows, lambda: output.console.print(listing_table(f"catalog: {query or 'all'}", rows)))


@job_app.command("request")
def request(
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="Algorithm listing id or name.")],
    dataset: Annotated[list[str], typer.Option("--dataset", "-d", help="INPUT=DATASET_ID, one per input.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Public KEY=VALUE.")] = None,
    receiver: Annotated[str | None, typer.Option("--receiver", help="Result receiver.")] = None,
    acting: Acting = "bank-a",
) -> None:
    """Request a compute job: escrow payment, name inputs and algorithm; owners then approve.

    [bold]Example:[/]  dx job request -a 1 -d left=3 -d right=4
    """

    from dx.actions.buyer import request_job

    result = request_job(acting, algorithm, dataset, param or [], receiver)
    output.emit(result, lambda: output.console.print(f"requested job [bold]#{result['job_id']}[/]"))


@job_app.command("status")
def status(job_id: JobId,
           watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow live until done.")] = False,
           acting: Acting = "bank-a") -> None:
    """Show a job's stage (requested, authorized, running, completed ...) and who it paid what.

    [bold]Example:[/]  dx job status 4 --watch
    """

    from dx.actions.buyer import job_status, watch_job
    from dx.actions.settlement import job_settlement

    job = watch_job(acting, job_id) if watch else job_status(acting, job_id)
    job["settlement"] = job_settlement(job_id)

    def human() -> None:
        results = sum(a["kind"] == "result" for a in job.get("attestations", []))
        output.console.print(f"job [bold]#{job['id']}[/]: [bold]{job['status']}[/]  algorithm "
                             f"#{job['algorithm_id']} on datasets {job['dataset_ids']}  "
                             f"({results}/3 nodes attested on-chain)")
        if job["status"] == "requested" and job.get("pending_owners"):
            output.console.print("waiting for approval of: " + ", ".join(job["pending_owners"]))
        output.console.print(output.table(None, ["node", "status", "stage", "error"], [
            (n["index"], n["status"], n["stage"], n["error"]) for n in job["nodes"]]))
        settled = job["settlement"]
        if settled["settled"]:
            title = f"settlement (escrow {settled['escrow_wei']} wei, credited; `dx withdraw` pays out)"
            output.console.print(output.table(title, ["to", "as", "wei"], [
                (c["name"] or c["account"], c["as"], c["wei"]) for c in settled["credits"]]))
        else:
            output.console.print(f"settlement: not yet (escrow {settled['escrow_wei']} wei held on-chain)")

    output.emit(job, human)


@job_app.command("result")
def result(job_id: JobId,
           out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the result (JSON).")],
           acting: Acting = "bank-a") -> None:
    """Fetch the three output shares, check them against the attestations, reconstruct the result.

    [bold]Example:[/]  dx job result 4 -o result.json
    """

    from dx.actions.buyer import fetch_result

    res = fetch_result(acting, job_id, out)
    output.emit(res, lambda: output.console.print(f"result of job #{job_id} written to {out}"))
