"""Settlement commands: `dx earnings`, `dx withdraw`, `dx job reclaim`."""

from __future__ import annotations

import typer

from dx import output
from dx.commands.options import Acting, JobId


def register(app: typer.Typer, job_app: typer.Typer) -> None:
    app.command("earnings")(earnings)
    app.command("withdraw")(withdraw)
    job_app.command("reclaim")(reclaim)


def earnings(acting: Acting = "tax-bureau") -> None:
    """Your withdrawable balance, what each job credited you, and your jobs you can reclaim now.

    The balance is read from the chain; a job is reclaimable past its deadline when it never finished.

    [bold]Example:[/]  dx earnings --as tax-bureau
    """
    from dx.actions import settlement

    report = settlement.earnings(acting)

    def human() -> None:
        output.console.print(f"[bold]{acting}[/] {report['address']}: balance "
                             f"[bold]{report['balance_wei']} wei[/] to withdraw "
                             f"(credited by jobs so far: {report['credited_wei']} wei)")
        if report["jobs"]:
            output.console.print(output.table("credited by job", ["job", "status", "as", "wei"], [
                (j["job_id"], j["status"], ",".join(j["as"]), j["wei"]) for j in report["jobs"]]))
        for j in report["reclaimable"]:
            output.console.print(f"job #{j['job_id']} ({j['status']}) is past its deadline: "
                                 f"`dx job reclaim {j['job_id']}` returns its {j['escrow_wei']} wei escrow")

    output.emit(report, human)


def withdraw(acting: Acting = "tax-bureau") -> None:
    """Pay out your whole credited balance from ComputeJobs to your address (you sign the transaction).

    [bold]Example:[/]  dx withdraw --as tax-bureau
    """
    from dx.actions import settlement

    result = settlement.withdraw(acting)
    output.emit(result, lambda: output.console.print(
        f"withdrew [bold]{result['withdrawn_wei']} wei[/] to {result['address']} (tx {result['tx_hash']})"))


def reclaim(job_id: JobId, acting: Acting = "bank-a") -> None:
    """Take back the escrow of your job that is past its deadline and never finished (then `dx withdraw`).

    [bold]Example:[/]  dx job reclaim 7 --as bank-a
    """
    from dx.actions import settlement

    result = settlement.reclaim(acting, job_id)
    output.emit(result, lambda: output.console.print(
        f"job [bold]#{job_id}[/] refunded: {result['refund_wei']} wei credited; balance now "
        f"{result['balance_wei']} wei (`dx withdraw` pays it out)"))
