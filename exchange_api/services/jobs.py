"""Jobs as the API shows them: the JobOut documents, who may see which job, and a job's calldata terms."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlmodel import Session

from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from exchange_api.chain import build_errors
from exchange_api.deps import AppContext, Principal
from exchange_api.errors import Forbidden, NotFound
from exchange_api.models import Approval, Attestation, Job
from exchange_api.schemas import ApprovalOut, AttestationOut, JobOut, JobRequestIn, ResultShareOut, UnsignedTx
from exchange_api.services.relay import require_chain


def pending_owners(job: Job) -> list[str]:
    out: list[str] = []
    for i, owner in enumerate(job.owners):
        if job.pending_mask & (1 << i) and owner not in out:
            out.append(owner)
    return out


def share_cid(hash_hex: str) -> str | None:
    """The CID of a blob whose sha256 is `hash_hex` (an attested output share), None if not a digest."""
    try:
        return cid_from_digest(bytes.fromhex(hash_hex.removeprefix("0x")))
    except ValueError:
        return None


def job_out_many(session: Session, jobs: list[Job]) -> list[JobOut]:
    """JobOut for many jobs with two extra queries in all (approvals, attestations), not two per job."""
    ids = [j.job_id for j in jobs]
    approvals: dict[int, list[ApprovalOut]] = {i: [] for i in ids}
    attestations: dict[int, list[AttestationOut]] = {i: [] for i in ids}
    if ids:
        for (a,) in session.execute(
            select(Approval).where(Approval.job_id.in_(ids)).order_by(Approval.id)
        ).all():
            approvals[a.job_id].append(
                ApprovalOut(
                    owner=a.owner,
                    decision=a.decision,
                    nonce=a.nonce,
                    deadline=a.deadline,
                    status=a.status,
                    tx_hash=a.tx_hash,
                    error=a.error,
                )
            )
        q = (
            select(Attestation)
            .where(Attestation.job_id.in_(ids))
            .order_by(Attestation.block_number, Attestation.id)
        )
        for (t,) in session.execute(q).all():
            attestations[t.job_id].append(
                AttestationOut(
                    node=t.node,
                    node_index=t.node_index,
                    kind=t.kind,
                    inputs_digest=t.inputs_digest,
                    program_hash=t.program_hash,
                    output_share_hash=t.output_share_hash,
                    output_share_cid=share_cid(t.output_share_hash) if t.kind == "result" else None,
                    receipt_hash=t.receipt_hash,
                    tx_hash=t.tx_hash,
                    block_number=t.block_number,
                )
            )
    return [
        JobOut(
            id=j.job_id,
            buyer=j.buyer,
            status=j.status,
            dataset_ids=j.dataset_ids,
            algorithm_id=j.algorithm_id,
            owners=j.owners,
            pending_owners=pending_owners(j),
            program_hash=j.program_hash,
            params_hash=j.param_hash,
            result_key=j.result_key,
            escrow_wei=j.payment_wei,
            deadline=j.deadline,
            created_block=j.created_block,
            updated_block=j.updated_block,
            approvals=approvals[j.job_id],
            attestations=attestations[j.job_id],
        )
        for j in jobs
    ]


def can_see(member: Principal, job: Job) -> bool:
    """Regulators and compute nodes see every job; a buyer its own; an owner the jobs using its listings."""
    return (
        member.is_regulator
        or member.has(Role.COMPUTE_NODE)
        or member.address == job.buyer
        or member.address in job.owners
    )


def visible_job(session: Session, job_id: int, member: Principal) -> Job:
    job = session.get(Job, job_id) if 0 < job_id < 2**63 else None
    if job is None:
        raise NotFound(f"no job {job_id} (or not indexed yet)")
    if not can_see(member, job):
        raise Forbidden(
            f"job {job_id} belongs to buyer {job.buyer}; {member.address} is neither its buyer nor "
            "an owner of its inputs"
        )
    return job


def terms_tuple(terms: dict[str, Any]) -> tuple:
    """The ComputeJobs.Terms calldata tuple from the JSON the indexer stored."""

    def b32(v: str) -> bytes:
        return bytes.fromhex(str(v).removeprefix("0x"))

    return (
        [int(d) for d in terms["datasetIds"]],
        int(terms["algorithmId"]),
        [to_checksum_address(o) for o in terms["owners"]],
        [int(p) for p in terms["prices"]],
        int(terms["nodeFee"]),
        b32(terms["programHash"]),
        b32(terms["paramsHash"]),
        to_checksum_address(terms["resultReceiver"]),
        b32(terms["resultKey"]),
        [b32(h) for h in terms.get("policyHashes", [])],
    )


def build_job_request(ctx: AppContext, body: JobRequestIn, buyer: str) -> UnsignedTx:
    """The unsigned ComputeJobs.request from `buyer`, its value the exact escrow the terms need."""
    ledger = require_chain(ctx).ledger
    with build_errors("ComputeJobs.request"):
        value = ledger.jobs.escrow_for(body.dataset_ids, body.algorithm_id, buyer, ledger.market)
        tx = ledger.jobs.build_request(
            buyer,
            body.dataset_ids,
            body.algorithm_id,
            bytes.fromhex(body.params_hash[2:]),
            bytes.fromhex(body.program_hash[2:]),
            bytes.fromhex(body.result_key[2:]),
            body.deadline,
            value,
            result_receiver=body.result_receiver or buyer,
        )
    return UnsignedTx(tx=dict(tx))


def buyer_jobs(session: Session, member: Principal, status: str | None, limit: int) -> list[Job]:
    """The newest `limit` jobs `member` bought (every job for a regulator)."""
    q = select(Job)
    if not member.is_regulator:
        q = q.where(Job.buyer == member.address)
    if status:
        q = q.where(Job.status == status)
    return [r[0] for r in session.execute(q.order_by(Job.job_id.desc()).limit(limit)).all()]


def result_shares(ctx: AppContext, session: Session, job_id: int, member: Principal) -> list[ResultShareOut]:
    """Where each node's attested result share is (CID, and whether the blob store has it yet): only for
    the job's buyer or a regulator."""
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
