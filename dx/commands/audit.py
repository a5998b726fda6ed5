"""Regulator commands: `dx audit trail/usage/verify/export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dx import output
from dx.commands.options import Acting, DatasetId, JobId

app = typer.Typer(help="The regulator's view: notarized trail, metered usage, independent verification.",
                  no_args_is_help=True)


@app.command("trail")
def trail(job_id: JobId, acting: Acting = "regulator") -> None:
    """Every notarized event of one job: request, approvals, transitions, result and destruction.

    [bold]Example:[/]  dx audit trail 4
    """

    from dx.actions.audit import audit_trail
    from dx.actions.tables import trail_table

    rows = audit_trail(acting, job_id)
    output.emit(rows, lambda: output.console.print(trail_table(f"trail of job #{job_id}", rows)))


@app.command("usage")
def usage(dataset_id: DatasetId, acting: Acting = "regulator") -> None:
    """Metered usage of one dataset: uses so far, max uses, the jobs that used it.

    [bold]Example:[/]  dx audit usage 1
    """

    from dx.actions.audit import audit_usage

    doc = audit_usage(acting, dataset_id)
    uses = doc.get("uses", [])

    def human() -> None:
        output.console.print(output.table(
            f"metered usage of dataset #{dataset_id}: {len(uses)} notarized events",
            ["seq", "kind", "job", "actor"],
            [(u.get("seq"), u.get("kind"), u.get("job"), u.get("actor")) for u in uses]))
        budget = doc.get("privacy_budget")
        if budget and budget["enabled"]:
            output.console.print(f"privacy budget: {budget['text']}")
            for row in budget["jobs"]:
                net = (row["reserved_micro_eps"] - row["released_micro_eps"]) / 1_000_000
                output.console.print(f"  job #{row['job']}: ε {net:g} spent"
                                     + (" (given back)" if row["released_micro_eps"] else ""))

    output.emit(doc, human)


@app.command("verify")
def verify(acting: Acting = "regulator") -> None:
    """Verify the whole trail independently: log entries against the checkpoints anchored on-chain.

    Exits 6 when the trail does not verify.

    [bold]Example:[/]  dx audit verify
    """

    from dx.actions.audit import audit_verify

    audit_verify(acting)


@app.command("export")
def export(out: Annotated[Path, typer.Option("-o", "--out", help="File to write.")],
           job: Annotated[int | None, typer.Option("--job", help="Only this job's signed bundle.")] = None,
           dataset: Annotated[int | None, typer.Option("--dataset", help="Only this dataset's.")] = None,
           acting: Acting = "regulator") -> None:
    """Export the log (JSON lines), or one job's or dataset's signed bundle, for offline checks.

    Check it with `python -m notarizer.cli --log FILE` (or `--bundle FILE`) and a chain RPC only.

    [bold]Example:[/]  dx audit export --job 4 -o job4.json
    """

    from dx.actions.audit import audit_export

    res = audit_export(acting, out, job, dataset)
    what = (f"{res['entries']} log entries" if "entries" in res
            else f"the signed bundle of {res['subject']}")
    output.emit(res, lambda: output.console.print(f"exported {what} to {out}"))
