"""Differential-privacy budgets from the command line: set one, read it from the chain, spend it per job."""

from __future__ import annotations

import math
from typing import Any

from contracts.types import MICRO_EPS, PrivacyBudget, to_micro_eps
from dx import context
from dx.errors import InputError, RemoteError
from exchange_api.client import ExchangeError

UINT64_MAX = 2**64 - 1


def parse_budget(total: float | None, per_job: float | None) -> tuple[int, int] | None:
    """(total, per job) in micro-ε from the ε flags, None when neither is given; both or none."""
    if total is None and per_job is None:
        return None
    if total is None or per_job is None:
        raise InputError("a privacy budget needs both its total and its per-job ε",
                         hint="give --epsilon-budget with --epsilon-per-job (or --total with --per-job)")
    for name, value in (("total", total), ("per job", per_job)):
        if not math.isfinite(value) or value < 0:
            raise InputError(f"the privacy budget's {name} ε must be a finite number >= 0, not {value}")
    total_micro, per_job_micro = to_micro_eps(total), to_micro_eps(per_job)
    if total_micro > UINT64_MAX:
        raise InputError(f"a privacy budget of ε {total} does not fit the chain's uint64 micro-ε")
    if total_micro == 0 and per_job_micro != 0:
        raise InputError("a zero total removes the budget: give --per-job 0 with it")
    if total_micro and not 0 < per_job_micro <= total_micro:
        raise InputError(f"the per-job ε {per_job} must be > 0 and at most the total {total}",
                         hint="ε below 0.000001 rounds to 0 on-chain")
    return total_micro, per_job_micro


def budget_of(dataset_id: int) -> PrivacyBudget:
    """The dataset's budget as the chain holds it (Market.privacyBudgetOf)."""
    budget = context.ledger().market.privacy_budget(dataset_id)
    if budget is None:
        raise InputError(f"no dataset listing with id {dataset_id}", hint="see `dx dataset list`")
    return budget


def budget_dict(budget: PrivacyBudget) -> dict[str, Any]:
    """The budget for JSON output (micro-ε integers, as on-chain) and its line in words."""
    return {"enabled": budget.enabled, "total_micro_eps": budget.total_micro_eps,
            "per_job_micro_eps": budget.per_job_micro_eps, "spent_micro_eps": budget.spent_micro_eps,
            "left_micro_eps": budget.left_micro_eps, "text": budget.describe()}


def set_budget(acting: str, dataset_id: int, total_micro: int, per_job_micro: int) -> dict[str, Any]:
    """The owner sets the dataset's budget (Market.setPrivacyBudget, signed by the acting account and
    relayed by the exchange). The total may never fall below what jobs already spent."""
    client = context.client(acting)
    address = client.account.address
    listing = context.ledger().market.dataset(dataset_id)
    if listing is None:
        raise InputError(f"no dataset listing with id {dataset_id}", hint="see `dx dataset list --mine`")
    if listing.owner.lower() != address.lower():
        raise InputError(f"dataset {dataset_id} belongs to {listing.owner}, not to {acting} ({address}): "
                         "only its owner sets its privacy budget (NotListingOwner)",
                         hint=f"run it --as the owner of dataset {dataset_id}")
    try:
        tx = client.set_privacy_budget(dataset_id, total_micro, per_job_micro)
    except ExchangeError as exc:
        rule = exc.contract_error or exc.problem.get("title", "")
        raise RemoteError(f"the privacy budget of dataset {dataset_id} was refused ({rule}): "
                          f"{exc.problem.get('detail', exc)}",
                          hint="the total may not fall below what is spent; see `dx dataset show`") from None
    return {"dataset_id": dataset_id, "tx_hash": tx.get("tx_hash"), "status": tx.get("status"),
            "privacy_budget": budget_dict(budget_of(dataset_id))}


def dp_params(params: dict[str, Any], alg: Any, dataset_ids: list[int]) -> dict[str, Any]:
    """The job's parameters with `dp_epsilon` set to the ε the request will reserve: the smallest per-job
    ε of its budgeted datasets (the nodes refuse any other, rule privacy-budget). Refuses here, before any
    escrow, a job the chain or the nodes would refuse: no DP in the algorithm, another ε asked, a budget
    with too little left."""
    from mpc_compute.policy import supports_dp

    budgets = [b for b in (budget_of(d) for d in dataset_ids) if b.enabled]
    if not budgets:
        return dict(params)
    names = ", ".join(f"#{b.dataset_id}" for b in budgets)
    if not supports_dp(alg):
        raise InputError(f"dataset(s) {names} have a privacy budget, and {alg.name} cannot release with "
                         "differential privacy (rule privacy-budget)", hint="use joint_stats")
    for b in budgets:
        if b.left_micro_eps < b.per_job_micro_eps:
            raise InputError(f"dataset #{b.dataset_id}'s privacy budget is spent: {b.describe()} "
                             "(Market.PrivacyBudgetExceeded)", hint="its owner may raise the total")
    need = min(b.per_job_micro_eps for b in budgets)
    eps = need / MICRO_EPS
    asked = params.get("dp_epsilon")
    if asked is not None and asked != 0 and (
        not isinstance(asked, int | float) or round(asked * MICRO_EPS) != need
    ):
        raise InputError(f"dataset(s) {names} spend ε {eps:g} per job; the job must use dp_epsilon={eps:g}, "
                         f"not {asked!r} (rule privacy-budget)", hint="drop --param dp_epsilon: dx sets it")
    if "dp_bounds" in alg.params_doc and "dp_bounds" not in params:
        # the noise of a sum is scaled to its clipping bounds: only the buyer knows what range to declare
        raise InputError(f"dataset(s) {names} have a privacy budget: {alg.name} releases noised statistics "
                         f"(ε {eps:g}) and needs clipping bounds for every column",
                         hint='add -p \'dp_bounds={"0": [lo, hi], ...}\' (one [lo, hi] per column)')
    return {**params, "dp_epsilon": eps}


def budget_usage(dataset_id: int) -> dict[str, Any]:
    """ε spent and left on the dataset, and each job's reservation and refund, from the chain: its
    EpsilonReserved/EpsilonReleased events must add up to the spent total the contract holds."""
    budget = budget_of(dataset_id)
    jobs: dict[int, dict[str, int]] = {}
    for ev in context.ledger().market.epsilon_events(dataset_id):
        row = jobs.setdefault(int(ev.args["jobId"]), {"reserved_micro_eps": 0, "released_micro_eps": 0})
        key = "reserved_micro_eps" if ev.event == "EpsilonReserved" else "released_micro_eps"
        row[key] += int(ev.args["microEps"])
    from_events = sum(r["reserved_micro_eps"] - r["released_micro_eps"] for r in jobs.values())
    if from_events != budget.spent_micro_eps:
        raise RemoteError(f"dataset {dataset_id}'s ε events add up to {from_events} micro-ε spent, the "
                          f"Market holds {budget.spent_micro_eps}: the chain's answers disagree")
    return {**budget_dict(budget),
            "jobs": [{"job": job_id, **row} for job_id, row in sorted(jobs.items())]}
