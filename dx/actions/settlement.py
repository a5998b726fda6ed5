"""Settlement actions: earnings, withdraw, reclaim, and who a job paid what (read from the chain)."""

from __future__ import annotations

from typing import Any

from dx import context, identities
from dx.errors import InputError, RemoteError
from dx_core.settlement import job_credits
from exchange_api.client import ExchangeError


def _names() -> dict[str, str]:
    """Address (lower case) -> account name, for the accounts on this machine."""
    return {a.address.lower(): a.name for a in identities.list_accounts()}


def _event_arg(tx: dict[str, Any], event: str, arg: str) -> int | None:
    return next((int(e["args"][arg]) for e in tx.get("events", []) if e["event"] == event), None)


def _refused(what: str, exc: ExchangeError) -> RemoteError:
    rule = exc.contract_error
    detail = exc.problem.get("detail", str(exc))
    return RemoteError(f"{what} was refused{f' ({rule})' if rule else ''}: {detail}")


def earnings(acting: str) -> dict[str, Any]:
    """The acting member's balance (read from the chain itself), the jobs that credited it, and the
    jobs it bought that it can reclaim now (from the exchange's index)."""
    client = context.client(acting)
    report = client.earnings()
    address = client.account.address
    on_chain = context.ledger().jobs.balance_of(address)
    return {**report, "account": acting, "balance_wei": str(on_chain)}


def withdraw(acting: str) -> dict[str, Any]:
    """Pay out the acting member's whole credited balance (it signs ComputeJobs.withdraw)."""
    client = context.client(acting)
    address = client.account.address
    balance = context.ledger().jobs.balance_of(address)
    if balance == 0:
        raise InputError(f"{acting} ({address}) has nothing to withdraw: its balance on ComputeJobs is 0",
                         hint="earnings are credited when a job completes; see `dx earnings`")
    try:
        tx = client.withdraw()
    except ExchangeError as exc:
        raise _refused(f"the withdrawal of {acting}", exc) from None
    paid = _event_arg(tx, "Withdrawal", "amount")
    return {"account": acting, "address": address, "withdrawn_wei": str(balance if paid is None else paid),
            "tx_hash": tx.get("tx_hash"), "status": tx.get("status"),
            "balance_wei": str(context.ledger().jobs.balance_of(address))}


def reclaim(acting: str, job_id: int) -> dict[str, Any]:
    """The buyer takes back the escrow of its unfinished job past its deadline (credited; then withdraw)."""
    client = context.client(acting)
    try:
        tx = client.reclaim_job(job_id)
    except ExchangeError as exc:
        raise _refused(f"reclaiming job {job_id}", exc) from None
    refund = _event_arg(tx, "JobRefunded", "refund")
    return {"job_id": job_id, "refund_wei": None if refund is None else str(refund),
            "tx_hash": tx.get("tx_hash"), "status": tx.get("status"),
            "balance_wei": str(context.ledger().jobs.balance_of(client.account.address))}


def job_settlement(job_id: int) -> dict[str, Any]:
    """Who the job credited what, from its status and terms on the chain (ComputeJobs' own rule: a completed
    job pays each owner its price and each node its fee; an ended one refunds the buyer's escrow)."""
    ledger = context.ledger()
    job = ledger.jobs.job(job_id)
    if job is None:
        raise RemoteError(f"job {job_id} does not exist on-chain")
    status = job.status.name.lower()
    nodes = list(ledger.registry.cluster_nodes(job.cluster_version)) if status == "completed" else []
    terms = job.terms
    names = _names()
    credits = job_credits(status, job.buyer, list(terms.owners), list(terms.prices), terms.node_fee, nodes)
    return {"settled": bool(credits), "status": status, "escrow_wei": str(terms.escrow),
            "credits": [{**c, "wei": str(c["wei"]), "name": names.get(c["account"].lower())}
                        for c in credits]}
