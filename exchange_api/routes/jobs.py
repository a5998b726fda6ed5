"""Buyer routes: build a job request, follow its status, list the result shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from web3.exceptions import Web3Exception

from contracts import ContractRevert, Role
from exchange_api.chain import revert_problem
from exchange_api.deps import CtxDep, Member, Principal, SessionDep, require_role
from exchange_api.errors import Forbidden, Unprocessable, problem_responses
from exchange_api.models import Attestation, Job
from exchange_api.schemas import JobOut, JobRequestIn, ResultShareOut, UnsignedTx
from exchange_api.services.jobs import job_out_many, share_cid, visible_job
from exchange_api.services.relay import require_chain

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
    chain = require_chain(ctx)
    jobs, market = chain.ledger.jobs, chain.ledger.market
    receiver = body.result_receiver or member.address
    try:
        value = jobs.escrow_for(body.dataset_ids, body.algorithm_id, member.address, market)
        tx = jobs.build_request(
            member.address,
            body.dataset_ids,
            body.algorithm_id,
            bytes.fromhex(body.params_hash[2:]),
            bytes.fromhex(body.program_hash[2:]),
            bytes.fromhex(body.result_key[2:]),
            body.deadline,
            value,
            result_receiver=receiver,
        )
    except ContractRevert as exc:
        raise revert_problem(exc, "ComputeJobs.request") from None
    except (ValueError, TypeError, Web3Exception) as exc:
        raise Unprocessable(f"cannot encode ComputeJobs.request with these arguments: {exc}") from None
    return UnsignedTx(tx=dict(tx))


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
    q = select(Job)
    if not member.is_regulator:
        q = q.where(Job.buyer == member.address)
    if status:
        q = q.where(Job.status == status)
    jobs = [r[0] for r in session.execute(q.order_by(Job.job_id.desc()).limit(limit)).all()]
    return job_out_many(session, jobs)


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
    job = visible_job(session, job_id, member)
    if not (member.is_regulator or member.address == job.buyer):
        raise Forbidden(f"only the buyer of job {job_id} (or a regulator) reads its result shares")
    rows = session.execute(
        select(Attestation)
        .where(Attestation.job_id == job_id, Attestation.kind == "result")
        .order_by(Attestation.node_index)
    ).all()
    out = []
    for (t,) in rows:
        cid = share_cid(t.output_share_hash) or ""
        out.append(
            ResultShareOut(
                node=t.node,
                node_index=t.node_index,
                output_share_hash=t.output_share_hash,
                cid=cid,
                stored=bool(cid) and ctx.blobs.has(cid),
            )
        )
    return out
