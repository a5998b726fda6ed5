"""Seller and algorithm-provider routes: build listing txs to sign, and read own requests, usage, earnings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from dx_core.roles import Role
from exchange_api.deps import CtxDep, Member, Principal, SessionDep, require_role
from exchange_api.errors import problem_responses
from exchange_api.schemas import (
    AlgorithmTermsIn,
    AlgorithmUpdateIn,
    DatasetTermsIn,
    JobOut,
    UnsignedTx,
    UsageOut,
)
from exchange_api.services.jobs import job_out_many
from exchange_api.services.listings import (
    algorithm_terms,
    build_market_tx,
    dataset_terms,
    owned_listing,
    requested_jobs,
    usage,
)

router = APIRouter(prefix="/v1", tags=["listings"])
Provider = Annotated[Principal, Depends(require_role(Role.PROVIDER, "list datasets"))]
AlgoProvider = Annotated[Principal, Depends(require_role(Role.ALGORITHM_PROVIDER, "list algorithms"))]
ERRORS = problem_responses(401, 403, 404, 422, 503)
MicroEps = Annotated[int, Query(ge=0, le=2**64 - 1, description="micro-ε (1 ε = 1,000,000), a uint64")]


@router.post(
    "/listings/datasets/build",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the listDataset tx for the seller to sign",
    description="The metadata document and the share manifest (CID = sha256 manifest hash) must be "
    "uploaded as blobs first. Sign the returned tx and send it, or relay it with POST /v1/tx/relay.",
)
def build_list_dataset(body: DatasetTermsIn, member: Provider, ctx: CtxDep) -> UnsignedTx:
    return build_market_tx(ctx, "listDataset", dataset_terms(ctx, body), sender=member.address)


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
    owned_listing(session, "dataset", id, member)
    return build_market_tx(ctx, "updateDataset", id, dataset_terms(ctx, body), sender=member.address)


@router.post(
    "/listings/datasets/{id}/build-budget",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the setPrivacyBudget tx (the dataset's differential-privacy budget)",
    description="Every job over the dataset then reserves `per_job_micro_eps` at request; a request that "
    "would spend past `total_micro_eps` reverts. The total may not fall below what is spent; both 0 "
    "removes the budget.",
)
def build_set_privacy_budget(
    id: int,
    total_micro_eps: MicroEps,
    per_job_micro_eps: MicroEps,
    member: Provider,
    ctx: CtxDep,
    session: SessionDep,
) -> UnsignedTx:
    owned_listing(session, "dataset", id, member)
    return build_market_tx(
        ctx, "setPrivacyBudget", id, total_micro_eps, per_job_micro_eps, sender=member.address
    )


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
    owned_listing(session, "dataset", id, member)
    return build_market_tx(ctx, "delistDataset", id, sender=member.address)


@router.post(
    "/listings/algorithms/build",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build the listAlgorithm tx for the provider to sign",
)
def build_list_algorithm(body: AlgorithmTermsIn, member: AlgoProvider, ctx: CtxDep) -> UnsignedTx:
    terms = algorithm_terms(ctx, body)
    code_hash = bytes.fromhex(body.code_hash[2:])
    return build_market_tx(
        ctx, "listAlgorithm", body.name, body.version, code_hash, *terms, sender=member.address
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
    owned_listing(session, "algorithm", id, member)
    return build_market_tx(ctx, "updateAlgorithm", id, *algorithm_terms(ctx, body), sender=member.address)


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
    owned_listing(session, "algorithm", id, member)
    return build_market_tx(ctx, "delistAlgorithm", id, sender=member.address)


@router.get(
    "/me/requests",
    response_model=list[JobOut],
    responses=problem_responses(401),
    summary="Jobs that use the member's listings (all jobs for a regulator)",
)
def my_requests(member: Member, session: SessionDep, status: str | None = None) -> list[JobOut]:
    return job_out_many(session, requested_jobs(session, member, status))


@router.get(
    "/me/usage",
    response_model=list[UsageOut],
    responses=problem_responses(401),
    summary="Usage and earnings of each of the member's listings",
)
def my_usage(member: Member, session: SessionDep) -> list[UsageOut]:
    return usage(session, member)
