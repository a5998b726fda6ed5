"""Settlement: who each job credited (ComputeJobs' pull payments), a member's earnings, and the
withdraw, reclaim and key-rotation transactions members sign."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlmodel import Session

from dx_core.settlement import job_credits
from exchange_api.chain import build_errors
from exchange_api.deps import AppContext, Principal
from exchange_api.errors import Forbidden, NotFound, Unprocessable
from exchange_api.models import Job
from exchange_api.schemas import UnsignedTx
from exchange_api.services.jobs import terms_tuple
from exchange_api.services.relay import require_chain

# The statuses a buyer may reclaim from once the deadline passed (ComputeJobs.reclaim).
RECLAIMABLE_STATUSES = frozenset({"requested", "authorized"})


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def earnings(ctx: AppContext, session: Session, member: Principal) -> dict[str, Any]:
    """The member's withdrawable balance on ComputeJobs (read from the chain), what each job credited it,
    and its own jobs the buyer may reclaim now (past the deadline, never finished)."""
    chain = require_chain(ctx)
    ledger = chain.ledger
    me = member.address
    now = int(chain.w3.eth.get_block("latest")["timestamp"])  # the chain's clock decides reclaim, not ours
    nodes_of: dict[int, list[str]] = {}
    per_job, reclaimable = [], []
    for job in session.execute(select(Job).order_by(Job.job_id)).scalars():
        terms = job.terms or {}
        owners = [str(o) for o in terms.get("owners", job.owners)]
        if job.status == "completed" and job.cluster_version not in nodes_of:
            nodes_of[job.cluster_version] = list(ledger.registry.cluster_nodes(job.cluster_version))
        credits = job_credits(job.status, job.buyer, owners, [int(p) for p in terms.get("prices", [])],
                              int(terms.get("nodeFee", 0)), nodes_of.get(job.cluster_version, []))
        mine = [c for c in credits if _same(c["account"], me)]
        if mine:
            wei = sum(c["wei"] for c in mine)
            per_job.append({"job_id": job.job_id, "status": job.status, "wei": str(wei),
                            "as": sorted({c["as"] for c in mine})})
        if (_same(job.buyer, me) and job.status in RECLAIMABLE_STATUSES and job.deadline
                and now > job.deadline):
            reclaimable.append({"job_id": job.job_id, "status": job.status, "deadline": job.deadline,
                                "escrow_wei": job.payment_wei})
    return {"address": me, "balance_wei": str(ledger.jobs.balance_of(me)),
            "credited_wei": str(sum(int(j["wei"]) for j in per_job)), "jobs": per_job,
            "reclaimable": reclaimable}


def _unsigned(tx: dict[str, Any]) -> UnsignedTx:
    return UnsignedTx(tx={k: (v if not isinstance(v, bytes) else "0x" + v.hex()) for k, v in tx.items()})


def build_withdraw(ctx: AppContext, member: Principal) -> UnsignedTx:
    """ComputeJobs.withdraw from the member (reverts with NothingToWithdraw when its balance is zero)."""
    jobs = require_chain(ctx).ledger.jobs
    with build_errors("ComputeJobs.withdraw"):
        return _unsigned(jobs.build_withdraw(member.address))


def build_reclaim(ctx: AppContext, session: Session, job_id: int, member: Principal) -> UnsignedTx:
    """ComputeJobs.reclaim of the member's own job with its terms (the chain checks status and deadline)."""
    job = session.get(Job, job_id) if 0 < job_id < 2**63 else None
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    if not _same(job.buyer, member.address):
        raise Forbidden(f"job {job_id} was bought by {job.buyer}, not {member.address}: "
                        "only its buyer reclaims")
    if not job.terms:
        raise Unprocessable(f"job {job_id}'s terms are not indexed yet: retry once the indexer has seen it")
    jobs = require_chain(ctx).ledger.jobs
    with build_errors("ComputeJobs.reclaim"):
        return _unsigned(jobs.build("reclaim", job_id, terms_tuple(job.terms), sender=member.address))


def build_rotate_key(ctx: AppContext, member: Principal, new_key_hex: str) -> UnsignedTx:
    """Registry.rotateKey(newKey) from the member: its X25519 key for sealed shares and results."""
    try:
        key = bytes.fromhex(new_key_hex.removeprefix("0x"))
    except ValueError:
        raise Unprocessable("new_key is not hex: pass the 32-byte X25519 key as 64 hex digits") from None
    if len(key) != 32 or key == b"\0" * 32:
        raise Unprocessable("new_key must be a non-zero 32-byte X25519 public key (64 hex digits)")
    registry = require_chain(ctx).ledger.registry
    with build_errors("Registry.rotateKey"):
        return _unsigned(registry.build_rotate_key(to_checksum_address(member.address), key))
