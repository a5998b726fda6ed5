"""Seller and algorithm-provider routes: build listing txs to sign, and read own requests, usage, earnings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlmodel import Session
from web3.exceptions import Web3Exception

from contracts import ContractRevert, Role
from dx_core.cid import cid_from_digest
from exchange_api.chain import revert_problem
from exchange_api.deps import AppContext, CtxDep, Member, Principal, SessionDep, require_role
from exchange_api.errors import Forbidden, NotFound, Unprocessable, problem_responses
from exchange_api.models import Job, JobInput, Listing
from exchange_api.schemas import (
    AlgorithmTermsIn,
    AlgorithmUpdateIn,
    DatasetTermsIn,
    JobOut,
    UnsignedTx,
    UsageOut,
)
from exchange_api.services.jobs import job_out_many
from exchange_api.services.relay import require_chain

router = APIRouter(prefix="/v1", tags=["listings"])
Provider = Annotated[Principal, Depends(require_role(Role.PROVIDER, "list datasets"))]
AlgoProvider = Annotated[Principal, Depends(require_role(Role.ALGORITHM_PROVIDER, "list algorithms"))]
ERRORS = problem_responses(401, 403, 404, 422, 503)


def _build(ctx: AppContext, binding_name: str, fn: str, *args: Any, sender: str) -> UnsignedTx:
    chain = require_chain(ctx)
    binding = getattr(chain.ledger, binding_name)
    try:
        tx = binding.build(fn, *args, sender=sender)
    except ContractRevert as exc:
        raise revert_problem(exc, f"{binding.NAME}.{fn}") from None
    except (ValueError, TypeError, Web3Exception) as exc:
        raise Unprocessable(f"cannot encode {binding.NAME}.{fn} with these arguments: {exc}") from None
    return UnsignedTx(tx={k: (v if not isinstance(v, bytes) else "0x" + v.hex()) for k, v in tx.items()})


def _need_blob(ctx: AppContext, cid: str, what: str) -> None:
    if not ctx.blobs.has(cid):
        raise Unprocessable(f"{what} {cid} is not in the blob store: upload it with PUT /v1/blobs first")


def _owned(session: Session, kind: str, listing_id: int, member: Principal) -> Listing:
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


def _dataset_terms(ctx: AppContext, body: DatasetTermsIn) -> tuple:
    _need_blob(ctx, body.metadata_cid, "metadata document")
    _need_blob(ctx, cid_from_digest(bytes.fromhex(body.manifest_hash[2:])), "share manifest")
    return (
        body.metadata_cid,
        bytes.fromhex(body.manifest_hash[2:]),
        body.price_wei,
        body.max_uses,
        body.expires_at,
        body.min_cohort_size,
    )


def _algorithm_terms(ctx: AppContext, body: AlgorithmTermsIn | AlgorithmUpdateIn) -> tuple:
    """The terms listAlgorithm and updateAlgorithm both take (as their last four arguments)."""
    _need_blob(ctx, body.metadata_cid, "metadata document")
    return (body.metadata_cid, body.price_wei, bytes.fromhex(body.secret_params_hash[2:]), body.max_uses)


@router.post(
    "/listings/datasets/build",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the listDataset tx for the seller to sign",
    description="The metadata document and the share manifest (CID = sha256 manifest hash) must be "
    "uploaded as blobs first. Sign the returned tx and send it, or relay it with POST /v1/tx/relay.",
)
def build_list_dataset(body: DatasetTermsIn, member: Provider, ctx: CtxDep) -> UnsignedTx:
    return _build(ctx, "market", "listDataset", _dataset_terms(ctx, body), sender=member.address)


@router.post(
    "/listings/datasets/{id}/build-update",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the updateDataset tx",
)
def build_update_dataset(
    id: int,
    body: DatasetTermsIn,
    member: Provider,
    ctx: CtxDep,
    session: SessionDep,
) -> UnsignedTx:
    _owned(session, "dataset", id, member)
    return _build(ctx, "market", "updateDataset", id, _dataset_terms(ctx, body), sender=member.address)


@router.post(
    "/listings/datasets/{id}/build-delist",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the delistDataset tx",
)
def build_delist_dataset(
    id: int,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> UnsignedTx:
    _owned(session, "dataset", id, member)
    return _build(ctx, "market", "delistDataset", id, sender=member.address)


@router.post(
    "/listings/algorithms/build",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the listAlgorithm tx for the provider to sign",
)
def build_list_algorithm(body: AlgorithmTermsIn, member: AlgoProvider, ctx: CtxDep) -> UnsignedTx:
    terms = _algorithm_terms(ctx, body)
    code_hash = bytes.fromhex(body.code_hash[2:])
    return _build(
        ctx, "market", "listAlgorithm", body.name, body.version, code_hash, *terms, sender=member.address
    )


@router.post(
    "/listings/algorithms/{id}/build-update",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the updateAlgorithm tx",
)
def build_update_algorithm(
    id: int,
    body: AlgorithmUpdateIn,
    member: AlgoProvider,
    ctx: CtxDep,
    session: SessionDep,
) -> UnsignedTx:
    _owned(session, "algorithm", id, member)
    return _build(ctx, "market", "updateAlgorithm", id, *_algorithm_terms(ctx, body), sender=member.address)


@router.post(
    "/listings/algorithms/{id}/build-delist",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the delistAlgorithm tx",
)
def build_delist_algorithm(
    id: int,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> UnsignedTx:
    _owned(session, "algorithm", id, member)
    return _build(ctx, "market", "delistAlgorithm", id, sender=member.address)


@router.get(
    "/me/requests",
    response_model=list[JobOut],
    responses=problem_responses(401),
    summary="Jobs that use the member's listings (all jobs for a regulator)",
)
def my_requests(member: Member, session: SessionDep, status: str | None = None) -> list[JobOut]:
    q = select(Job)
    if not member.is_regulator:
        q = q.where(Job.job_id.in_(select(JobInput.job_id).where(JobInput.owner == member.address)))
    if status:
        q = q.where(Job.status == status)
    jobs = [r[0] for r in session.execute(q.order_by(Job.job_id.desc()).limit(500)).all()]
    return job_out_many(session, jobs)


@router.get(
    "/me/usage",
    response_model=list[UsageOut],
    responses=problem_responses(401),
    summary="Usage and earnings of each of the member's listings",
)
def my_usage(member: Member, session: SessionDep) -> list[UsageOut]:
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
