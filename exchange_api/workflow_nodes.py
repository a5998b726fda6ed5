"""Compute-node routes: long-poll for authorized jobs, and relay or track attestations and receipts."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlmodel import Session

from exchange_api.auth import Principal, require_role
from exchange_api.context import COMPUTE_NODE, AppContext, CtxDep
from exchange_api.errors import BadRequest, problem_responses
from exchange_api.models import Job, JobInput, Listing
from exchange_api.schemas import HEX32, TrackIn, TxOut
from exchange_api.workflow_tx import relay_signed, track

router = APIRouter(prefix="/v1/nodes", tags=["nodes"])
Node = Annotated[Principal, Depends(require_role(COMPUTE_NODE, "follow compute jobs"))]
POLL_SECONDS = 0.25


class NodeJobInput(BaseModel):
    kind: str
    id: int
    owner: str
    manifest_hash: str = Field(description="on-chain commitment; the manifest blob's CID derives from it")


class NodeJobOut(BaseModel):
    id: int
    buyer: str
    dataset_ids: list[int]
    algorithm_id: int
    program_hash: str
    params_hash: str
    result_key: str
    deadline: int
    cluster_version: int
    authorized_block: int
    inputs: list[NodeJobInput]
    terms: dict[str, Any]


class NodeJobsOut(BaseModel):
    jobs: list[NodeJobOut]
    last_id: int = Field(description="pass as `after` in the next poll")


class AttestationIn(BaseModel):
    raw_tx: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]+$",
        max_length=200_000,
        description="a signed attest/attestDestruction tx, relayed by the API",
    )
    tx_hash: str | None = Field(default=None, pattern=HEX32, description="or the hash of one the node sent")

    @model_validator(mode="after")
    def _one(self) -> AttestationIn:
        if (self.raw_tx is None) == (self.tx_hash is None):
            raise ValueError("give exactly one of raw_tx and tx_hash")
        return self


def _authorized_after(ctx: AppContext, after: int, limit: int) -> list[NodeJobOut]:
    with Session(ctx.engine) as session:
        jobs = [
            r[0]
            for r in session.execute(
                select(Job)
                .where(Job.job_id > after, Job.status == "authorized")
                .order_by(Job.job_id)
                .limit(limit)
            ).all()
        ]
        if not jobs:
            return []
        ids = [j.job_id for j in jobs]
        inputs: dict[int, list[NodeJobInput]] = {i: [] for i in ids}
        rows = session.execute(
            select(JobInput.job_id, JobInput.kind, JobInput.listing_id, JobInput.owner, Listing.manifest_hash)
            .outerjoin(Listing, (Listing.kind == JobInput.kind) & (Listing.listing_id == JobInput.listing_id))
            .where(JobInput.job_id.in_(ids))
        ).all()
        for job_id, kind, listing_id, owner, manifest in rows:
            inputs[job_id].append(
                NodeJobInput(kind=kind, id=listing_id, owner=owner, manifest_hash=manifest or "")
            )
    return [
        NodeJobOut(
            id=j.job_id,
            buyer=j.buyer,
            dataset_ids=j.dataset_ids,
            algorithm_id=j.algorithm_id,
            program_hash=j.program_hash,
            params_hash=j.param_hash,
            result_key=j.result_key,
            deadline=j.deadline,
            cluster_version=j.cluster_version,
            authorized_block=j.authorized_block or 0,
            inputs=sorted(inputs[j.job_id], key=lambda i: (i.kind != "dataset", i.id)),
            terms=j.terms,
        )
        for j in jobs
    ]


@router.get(
    "/jobs",
    response_model=NodeJobsOut,
    responses=problem_responses(401, 403, 422),
    summary="Long-poll for authorized jobs with an id above `after`",
    description="Answers at once when such jobs are indexed, else waits up to `wait` seconds. The chain's "
    "JobAuthorized events remain the source of truth; this is the fast path.",
)
async def poll_jobs(
    node: Node,
    ctx: CtxDep,
    after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
    wait: Annotated[float, Query(ge=0, le=30)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NodeJobsOut:
    deadline = time.monotonic() + wait
    while True:
        jobs = await asyncio.to_thread(_authorized_after, ctx, after, limit)
        if jobs or time.monotonic() >= deadline:
            return NodeJobsOut(jobs=jobs, last_id=jobs[-1].id if jobs else after)
        await asyncio.sleep(POLL_SECONDS)


@router.post(
    "/attestations",
    response_model=TxOut,
    responses=problem_responses(400, 401, 403, 404, 422, 503),
    summary="Relay (raw_tx) or track (tx_hash) a node's attest or attestDestruction transaction",
)
def post_attestation(body: AttestationIn, node: Node, ctx: CtxDep) -> TxOut:
    with Session(ctx.engine, expire_on_commit=False) as session:
        if body.raw_tx is not None:
            return relay_signed(ctx, session, node.address, body.raw_tx, {"attest", "attestDestruction"})
        out = track(TrackIn(tx_hash=body.tx_hash), node, ctx, session)
    if out.kind not in ("ComputeJobs.attest", "ComputeJobs.attestDestruction"):
        raise BadRequest(f"transaction {body.tx_hash} calls {out.kind}, not an attestation")
    return out
