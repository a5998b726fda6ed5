"""Owners' routes for a job: the EIP-712 message to sign, and submitting a signed approval or decline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from exchange_api.deps import CtxDep, Member, SessionDep
from exchange_api.errors import problem_responses
from exchange_api.schemas import ApprovalResultOut, SignatureIn
from exchange_api.services import approvals
from exchange_api.services.jobs import visible_job
from exchange_api.services.relay import require_chain

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
ERRORS = problem_responses(401, 403, 404, 409, 422, 503)


@router.get(
    "/{job_id}/typed-data",
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="The EIP-712 Approval or Decline message an owner signs for this job",
)
def typed_data(
    job_id: int,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
    nonce: Annotated[int, Query(ge=0, lt=2**256)],
    deadline: Annotated[int, Query(ge=0, lt=2**256)],
    decision: Annotated[str, Query(pattern="^(approve|decline)$")] = "approve",
) -> dict[str, Any]:
    require_chain(ctx)
    job = visible_job(session, job_id, member)
    return approvals.json_typed(approvals.typed_data_for(ctx, job, decision, member.address, nonce, deadline))


@router.post(
    "/{job_id}/approvals",
    response_model=ApprovalResultOut,
    responses=ERRORS,
    summary="Submit an owner's signed Approval; relayed with the others in one approveBatch tx",
    description="The signature is verified (right job and program hash, signer is a pending owner, nonce "
    "unused, not expired) before it is stored. When every pending owner has approved, the API relays all "
    "approvals in one approveBatch transaction paid by the operator's relayer account.",
)
def submit_approval(
    job_id: int,
    body: SignatureIn,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> ApprovalResultOut:
    return approvals.submit_approval(ctx, session, job_id, member, body)


@router.post(
    "/{job_id}/declines",
    response_model=ApprovalResultOut,
    responses=ERRORS,
    summary="Submit an owner's signed Decline; relayed at once (declineBySig)",
)
def submit_decline(
    job_id: int,
    body: SignatureIn,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> ApprovalResultOut:
    return approvals.submit_decline(ctx, session, job_id, member, body)
