"""Seller and algorithm-provider commands: datasets, algorithms, pending requests, approve/decline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dx import output
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


PolicyFile = Annotated[Path | None, typer.Option("--policy", exists=True, dir_okay=False,
                                                  help="Policy JSON (fields as in `dx dataset show`); "
                                                       "the flags below override it.")]
MinGroup = Annotated[int | None, typer.Option("--min-group-size", min=1,
                                              help="k: no aggregate over fewer rows (default 10).")]
ColumnRules = Annotated[list[str] | None, typer.Option(
    "--column", help="NAME=RULE, RULE one of join_key, feature, aggregate_only, not_usable (repeatable).")]
AllowAlgorithms = Annotated[list[int] | None, typer.Option(
    "--allow-algorithm", help="Only these algorithm listing ids, with their current code hash (repeatable).")]
AllowBuyers = Annotated[list[str] | None,
                        typer.Option("--allow-buyer", help="Only these buyers (repeatable).")]
LookupsPerJob = Annotated[int | None, typer.Option("--max-lookups-per-job", min=0,
                                                   help="IDs one job may probe against the join key.")]
LookupsPerPeriod = Annotated[int | None, typer.Option("--max-lookups-per-period", min=0,
                                                      help="IDs one buyer may probe per period.")]
LookupPeriod = Annotated[int | None, typer.Option("--lookup-period", min=1, help="The period, in seconds.")]
PreApprove = Annotated[bool | None, typer.Option(
    "--pre-approve/--approve-each", help="Whether jobs the on-chain pre-approval admits need no signature.")]
DifferenceScope = Annotated[str | None, typer.Option(
    "--difference-scope", metavar="any|buyer",
    help="Whose earlier released cohorts a new aggregate must differ from by k rows or more: any buyer's "
         "(default) or the same buyer's only.")]
RevealAbsence = Annotated[bool | None, typer.Option(
    "--reveal-absence/--hide-absence",
    help="Whether a per-row answer may tell a buyer which of its IDs this table lacks (e.g. scoring with "
         "unmatched=flag); hidden by default: missing rows are imputed.")]
EpsilonBudget = Annotated[float | None, typer.Option(
    "--epsilon-budget", min=0, help="Differential-privacy budget ε in total, spent on-chain by every job.")]
EpsilonPerJob = Annotated[float | None, typer.Option(
    "--epsilon-per-job", min=0, help="ε each job spends (its noise); with --epsilon-budget.")]


def _policy(policy_file, min_group, columns, algorithms, buyers, per_job, per_period, period, pre, scope,
            absence):
    from dx.actions.policies import build_policy

    return build_policy(policy_file, min_group, columns, algorithms, buyers, per_job, per_period, period, pre,
                        scope, absence)


def _say_policy(rules: list[str]) -> None:
    for line in rules:
        output.console.print(f"  policy: {escape(line)}")


def _say_budget(budget: dict | None) -> None:
    if budget is not None:
        output.console.print(f"  privacy budget: {escape(budget['text'])}")


@dataset_app.command("publish")
def publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV, enterprise_id column.")],
    schema: Annotated[str, typer.Option("--schema", help="Columns: name[:dtype[:role]],...")],
    price: Price = 0,
    max_uses: MaxUses = 10,
    title: Annotated[str | None, typer.Option("--title", help="Catalog title (default: file name).")] = None,
    policy_file: PolicyFile = None,
    min_group_size: MinGroup = None,
    column: ColumnRules = None,
    allow_algorithm: AllowAlgorithms = None,
    allow_buyer: AllowBuyers = None,
    max_lookups_per_job: LookupsPerJob = None,
    max_lookups_per_period: LookupsPerPeriod = None,
    lookup_period: LookupPeriod = None,
    pre_approve: PreApprove = None,
    difference_scope: DifferenceScope = None,
    reveal_absence: RevealAbsence = None,
    epsilon_budget: EpsilonBudget = None,
    epsilon_per_job: EpsilonPerJob = None,
    acting: Acting = "tax-bureau",
) -> None:
    """Secret-share a dataset for the three nodes, seal each share to its node, upload, list on-chain
    with its data-use policy (every node enforces it; default k = 10, ID columns join keys only) and,
    with --epsilon-budget, a differential-privacy budget (jobs release noised statistics, ε spent on-chain).

    No plaintext row leaves this machine: only sealed shares and the manifest commitment do.

    [bold]Example:[/]  dx dataset publish tax.csv --schema enterprise_id,revenue,tax_paid --max-uses 5
    --min-group-size 20 --column tax_paid=aggregate_only
    """

    from dx.actions.budget import parse_budget, set_budget
    from dx.actions.sellers import publish_dataset

    policy = _policy(policy_file, min_group_size, column, allow_algorithm, allow_buyer, max_lookups_per_job,
                     max_lookups_per_period, lookup_period, pre_approve, difference_scope, reveal_absence)
    budget = parse_budget(epsilon_budget, epsilon_per_job)  # checked before anything is shared
    result = publish_dataset(acting, file, schema, price, max_uses, title or file.stem, policy=policy)
    if budget is not None:
        # Right after listing, before any pre-approval: a job requested in between awaits approval.
        result["privacy_budget"] = set_budget(acting, result["dataset_id"], *budget)["privacy_budget"]

    def human() -> None:
        output.console.print(f"listed dataset [bold]#{result['dataset_id']}[/] ({result['rows']} rows: "
                             f"{', '.join(result['columns'])})")
        _say_policy(result["policy"])
        _say_budget(result.get("privacy_budget"))

    output.emit(result, human)


@dataset_app.command("policy")
def set_policy(
    dataset_id: DatasetId,
    policy_file: PolicyFile = None,
    min_group_size: MinGroup = None,
    column: ColumnRules = None,
    allow_algorithm: AllowAlgorithms = None,
    allow_buyer: AllowBuyers = None,
    max_lookups_per_job: LookupsPerJob = None,
    max_lookups_per_period: LookupsPerPeriod = None,
    lookup_period: LookupPeriod = None,
    pre_approve: PreApprove = None,
    difference_scope: DifferenceScope = None,
    reveal_absence: RevealAbsence = None,
    acting: Acting = "tax-bureau",
) -> None:
    """Replace a dataset's data-use policy. Jobs requested under the old one can no longer be authorized.

    Flags not given start from the default policy (or --policy FILE), not from the current one.

    [bold]Example:[/]  dx dataset policy 3 --min-group-size 50 --allow-algorithm 1 --as telecom
    """
    from dx.actions.policies import set_policy as apply_policy

    policy = _policy(policy_file, min_group_size, column, allow_algorithm, allow_buyer, max_lookups_per_job,
                     max_lookups_per_period, lookup_period, pre_approve, difference_scope, reveal_absence)
    result = apply_policy(acting, dataset_id, policy)

    def human() -> None:
        output.console.print(f"dataset [bold]#{dataset_id}[/] now has policy {result['policy_hash'][:18]}...")
        _say_policy(result["rules"])

    output.emit(result, human)


@dataset_app.command("budget")
def set_budget(
    dataset_id: DatasetId,
    total: Annotated[float, typer.Option("--total", min=0, help="ε in total (0 with --per-job 0: none).")],
    per_job: Annotated[float, typer.Option("--per-job", min=0, help="ε each job spends.")],
    acting: Acting = "tax-bureau",
) -> None:
    """Set a dataset's differential-privacy budget: every job then releases noised statistics with the
    per-job ε, spent on-chain; a request that would overspend is refused. The total never falls below
    what is spent.

    [bold]Example:[/]  dx dataset budget 3 --total 1.0 --per-job 0.25 --as telecom
    """
    from dx.actions import budget

    parsed = budget.parse_budget(total, per_job)
    assert parsed is not None  # both options are required
    result = budget.set_budget(acting, dataset_id, *parsed)

    def human() -> None:
        output.console.print(f"dataset [bold]#{dataset_id}[/] privacy budget set")
        _say_budget(result["privacy_budget"])

    output.emit(result, human)


@dataset_app.command("list")
def list_datasets(mine: Annotated[bool, typer.Option(help="Only the acting account's datasets.")] = False,
                  acting: Acting = "tax-bureau") -> None:
    """List dataset listings with their price, uses and status.

    [bold]Example:[/]  dx dataset list --mine --as telecom
    """

    from dx.actions.sellers import list_datasets
    from dx.actions.tables import listing_table

    rows = list_datasets(acting, mine)
    output.emit(rows, lambda: output.console.print(listing_table("datasets", rows)))


@dataset_app.command("show")
def show_dataset(dataset_id: DatasetId, acting: Acting = "tax-bureau") -> None:
    """Show one listing: owner, schema, manifest commitment, uses so far, and its policy in words.

    [bold]Example:[/]  dx dataset show 1
    """

    from dx.actions.budget import budget_dict, budget_of
    from dx.actions.sellers import show_dataset

    listing = show_dataset(acting, dataset_id)
    listing["privacy_budget"] = budget_dict(budget_of(dataset_id))

    def human() -> None:
        limit = listing["max_uses"] or "unlimited"
        output.console.print(f"dataset [bold]#{listing['id']}[/] {escape(listing.get('title', ''))}: owner "
                             f"{listing['owner']}, {listing['uses']}/{limit} uses, {listing['status']}")
        cols = ", ".join(f"{c.get('name')} ({c.get('role', 'feature')})" for c in listing.get("columns", []))
        output.console.print(f"  columns: {escape(cols)}")
        output.console.print(f"  manifest: {listing['manifest_hash']}")
        _say_policy(listing["policy_rules"])
        _say_budget(listing["privacy_budget"])

    output.emit(listing, human)


@dataset_app.command("delist")
def delist(dataset_id: DatasetId, acting: Acting = "tax-bureau") -> None:
    """Withdraw a listing: no new job may use it.

    [bold]Example:[/]  dx dataset delist 3 --as telecom
    """

    from dx.actions.sellers import delist_dataset

    result = delist_dataset(acting, dataset_id)
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

    from dx.actions.sellers import publish_algorithm

    result = publish_algorithm(acting, algorithm, model, price, max_uses)
    output.emit(result, lambda: output.console.print(f"listed algorithm [bold]#{result['algorithm_id']}[/]"))


@algorithm_app.command("list")
def list_algorithms(acting: Acting = "model-vendor") -> None:
    """List algorithm listings.

    [bold]Example:[/]  dx algorithm list
    """

    from dx.actions.sellers import list_algorithms
    from dx.actions.tables import listing_table

    rows = list_algorithms(acting)
    output.emit(rows, lambda: output.console.print(listing_table("algorithms", rows)))


def requests(acting: Acting = "tax-bureau") -> None:
    """Jobs waiting for the acting account's approval.

    [bold]Example:[/]  dx requests --as telecom
    """

    from dx.actions.sellers import pending_requests
    from dx.actions.tables import jobs_table

    rows = pending_requests(acting)

    def human() -> None:
        output.console.print(jobs_table("waiting for your approval", rows))
        for row in rows:  # what approving means, recomputed from the chain, not the exchange's word
            output.console.print(f"[bold]job #{row['id']}[/]")
            if row.get("refused"):
                output.console.print(f"  [red]cannot be approved:[/] {escape(row['refused'])}")
            for line in row.get("review", []):
                output.console.print(f"  {line}", markup=False)

    output.emit(rows, human)


def approve(job_id: JobId, acting: Acting = "tax-bureau") -> None:
    """Approve a job that uses your listing (an EIP-712 signature; the exchange relays it).

    [bold]Example:[/]  dx approve 4 --as telecom
    """

    from dx.actions.sellers import decide

    result = decide(acting, job_id, approve=True)

    def human() -> None:
        output.console.print(f"approved job #{job_id}, checked against the chain:")
        for line in result["signed_for"]:
            output.console.print(f"  {line}", markup=False)

    output.emit(result, human)


def decline(job_id: JobId, acting: Acting = "tax-bureau") -> None:
    """Decline a job that uses your listing: it will never run.

    [bold]Example:[/]  dx decline 4 --as telecom
    """

    from dx.actions.sellers import decide

    result = decide(acting, job_id, approve=False)
    output.emit(result, lambda: output.console.print(f"declined job #{job_id}"))
