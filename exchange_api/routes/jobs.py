"""Buyer routes: build a job request, follow its status, list the result shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from dx_core.roles import Role
from exchange_api.deps import CtxDep, Member, Principal, SessionDep, require_role
from exchange_api.errors import problem_responses
from exchange_api.schemas import JobOut, JobRequestIn, ResultShareOut, UnsignedTx
from exchange_api.services.jobs import build_job_request, buyer_jobs, job_out_many, result_shares, visible_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
Buyer = Annotated[Principal, Depends(require_role(Role.BUYER, "request jobs"))]


@router.post(
    "/build",
    response_model=UnsignedTx,
    responses=problem_responses(401, 403, 422, 503),
    summary="Build the job request tx (with the exact escrow as value) for the buyer to sign",
    description="Reverts surface as 422 with the contract's custom error, e.g. UsageLimitReached when a "
    "listing has no uses left, DatasetNotActive for a delisted dataset.",
)
def build_request(body: JobRequestIn, member: Buyer, ctx: CtxDep) -> UnsignedTx:
    return build_job_request(ctx, body, member.address)


@router.get(
    "",
    response_model=list[JobOut],
    responses=problem_responses(401, 422),
    summary="The buyer's own jobs (every job for a regulator)",
)
def list_jobs(
    member: Member,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JobOut]:
    return job_out_many(session, buyer_jobs(session, member, status, limit))


@router.get(
    "/{job_id}",
    response_model=JobOut,
    responses=problem_responses(401, 403, 404, 422),
    summary="One job: status, pending owners, approvals, attestations",
)
def get_job(job_id: int, member: Member, session: SessionDep) -> JobOut:
    return job_out_many(session, [visible_job(session, job_id, member)])[0]


@router.get(
    "/{job_id}/results",
    response_model=list[ResultShareOut],
    responses=problem_responses(401, 403, 404, 422),
    summary="The result shares' CIDs, one per node, as the nodes attested them",
)
def job_results(
    job_id: int,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> list[ResultShareOut]:
    return result_shares(ctx, session, job_id, member)
