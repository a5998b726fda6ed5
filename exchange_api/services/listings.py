"""Listings as sellers manage them: the Market transactions they sign, and their requests and earnings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from dx_core.cid import cid_from_digest
from exchange_api.chain import build_errors
from exchange_api.deps import AppContext, Principal
from exchange_api.errors import Forbidden, NotFound, Unprocessable
from exchange_api.models import Job, JobInput, Listing
from exchange_api.schemas import AlgorithmTermsIn, AlgorithmUpdateIn, DatasetTermsIn, UnsignedTx, UsageOut
from exchange_api.services.relay import require_chain
from mpc_compute.policy import ZERO32, Policy, PolicyError


def build_market_tx(ctx: AppContext, fn: str, *args: Any, sender: str) -> UnsignedTx:
    """The unsigned Market transaction `fn(*args)` from `sender`, for the member to sign."""
    market = require_chain(ctx).ledger.market
    with build_errors(f"{market.NAME}.{fn}"):
        tx = market.build(fn, *args, sender=sender)
    return UnsignedTx(tx={k: (v if not isinstance(v, bytes) else "0x" + v.hex()) for k, v in tx.items()})


def _need_blob(ctx: AppContext, cid: str, what: str) -> None:
    if not ctx.blobs.has(cid):
        raise Unprocessable(f"{what} {cid} is not in the blob store: upload it with PUT /v1/blobs first")


def owned_listing(session: Session, kind: str, listing_id: int, member: Principal) -> Listing:
    """The `kind` listing `listing_id` if `member` owns it (404 when there is none, 403 if another does)."""
    if not 0 < listing_id < 2**63:
        raise NotFound(f"no {kind} listing with id {listing_id}")
    row = (
        session.execute(select(Listing).where(Listing.kind == kind, Listing.listing_id == listing_id))
        .scalars()
        .first()
    )
    if row is None:
        raise NotFound(f"no {kind} listing with id {listing_id}")
    if row.owner != member.address:
        raise Forbidden(f"{kind} {listing_id} belongs to {row.owner}, not to {member.address}")
    return row


def dataset_terms(ctx: AppContext, body: DatasetTermsIn) -> tuple:
    """The terms listDataset and updateDataset take, once their documents are known to be stored."""
    _need_blob(ctx, body.metadata_cid, "metadata document")
    _need_blob(ctx, cid_from_digest(bytes.fromhex(body.manifest_hash[2:])), "share manifest")
    policy_hash = bytes.fromhex(body.policy_hash[2:])
    if policy_hash != ZERO32:
        # nodes refuse every job of a listing whose policy they cannot read: refuse such a listing now
        cid = cid_from_digest(policy_hash)
        _need_blob(ctx, cid, "data-use policy document")
        try:
            Policy.from_bytes(ctx.blobs.get(cid), policy_hash)
        except PolicyError as exc:
            raise Unprocessable(f"the data-use policy document is not valid: {exc}") from None
    return (
        body.metadata_cid,
        bytes.fromhex(body.manifest_hash[2:]),
        body.price_wei,
        body.max_uses,
        body.expires_at,
        policy_hash,
    )


def algorithm_terms(ctx: AppContext, body: AlgorithmTermsIn | AlgorithmUpdateIn) -> tuple:
    """The terms listAlgorithm and updateAlgorithm both take (as their last four arguments)."""
    _need_blob(ctx, body.metadata_cid, "metadata document")
    return (body.metadata_cid, body.price_wei, bytes.fromhex(body.secret_params_hash[2:]), body.max_uses)


def requested_jobs(session: Session, member: Principal, status: str | None) -> list[Job]:
    """The newest 500 jobs that use `member`'s listings (every job for a regulator)."""
    q = select(Job)
    if not member.is_regulator:
        q = q.where(Job.job_id.in_(select(JobInput.job_id).where(JobInput.owner == member.address)))
    if status:
        q = q.where(Job.status == status)
    return [r[0] for r in session.execute(q.order_by(Job.job_id.desc()).limit(500)).all()]


def usage(session: Session, member: Principal) -> list[UsageOut]:
    """Uses, completed jobs and earnings of each of `member`'s listings."""
    listings = [
        r[0]
        for r in session.execute(
            select(Listing).where(Listing.owner == member.address).order_by(Listing.kind, Listing.listing_id)
        ).all()
    ]
    inputs = session.execute(
        select(JobInput.kind, JobInput.listing_id, Job.job_id, Job.terms, Job.status)
        .join(Job, Job.job_id == JobInput.job_id)
        .where(JobInput.owner == member.address)
    ).all()
    earned: dict[tuple[str, int], int] = {}
    completed: dict[tuple[str, int], int] = {}
    for kind, listing_id, _job_id, terms, status in inputs:
        if status != "completed":
            continue
        ids = [int(d) for d in terms.get("datasetIds", [])]
        index = ids.index(listing_id) if kind == "dataset" and listing_id in ids else len(ids)
        prices = [int(p) for p in terms.get("prices", [])]
        key = (kind, listing_id)
        earned[key] = earned.get(key, 0) + (prices[index] if index < len(prices) else 0)
        completed[key] = completed.get(key, 0) + 1
    return [
        UsageOut(
            kind=r.kind,
            id=r.listing_id,
            title=r.title,
            status=r.status,
            uses=r.uses,
            max_uses=r.max_uses,
            price_wei=r.price_wei,
            completed_jobs=completed.get((r.kind, r.listing_id), 0),
            earned_wei=str(earned.get((r.kind, r.listing_id), 0)),
        )
        for r in listings
    ]
