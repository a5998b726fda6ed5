"""Owners' EIP-712 approvals and declines: verified before storing, notarized, relayed in one approveBatch."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from contracts import eip712
from exchange_api.deps import AppContext, Principal
from exchange_api.errors import ApiError, Conflict, Forbidden, Unprocessable
from exchange_api.models import Approval, Job, RelayClaim
from exchange_api.schemas import ApprovalResultOut, SignatureIn, TxOut
from exchange_api.services.jobs import job_out_many, pending_owners, terms_tuple, visible_job
from exchange_api.services.relay import event_json, require_chain, sync_index
from notarizer.entry import Kind

log = logging.getLogger("exchange_api.approvals")


def typed_data_for(
    ctx: AppContext, job: Job, decision: str, owner: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """The EIP-712 Approval or Decline document `owner` signs for `job`."""
    chain = require_chain(ctx)
    domain = eip712.Domain(chain.chain_id, chain.ledger.jobs.address)
    if decision == "approve":
        program_hash = bytes.fromhex(job.program_hash.removeprefix("0x"))
        return eip712.approval_typed_data(domain, job.job_id, program_hash, owner, nonce, deadline)
    return eip712.decline_typed_data(domain, job.job_id, owner, nonce, deadline)


def json_typed(typed: dict[str, Any]) -> dict[str, Any]:
    msg = {
        k: ("0x" + v.hex() if isinstance(v, bytes) else str(v) if isinstance(v, int) and v >= 2**53 else v)
        for k, v in typed["message"].items()
    }
    return {**typed, "message": msg}


def verify_signature(
    ctx: AppContext, session: Session, job: Job, decision: str, body: SignatureIn
) -> Approval:
    """Every check the contract will make, made first, so only signatures that can succeed are stored."""
    chain = require_chain(ctx)
    owner = to_checksum_address(body.owner)
    if job.status != "requested":
        raise Conflict(f"job {job.job_id} is {job.status}: it no longer takes approvals or declines")
    if owner not in pending_owners(job):
        raise Forbidden(
            f"{owner} is not an owner whose approval job {job.job_id} awaits "
            f"(pending: {', '.join(pending_owners(job)) or 'none'})"
        )
    chain_now = int(chain.w3.eth.get_block("latest")["timestamp"])
    if body.deadline < max(chain_now, int(time.time())):
        raise Unprocessable(f"the signature expired at {body.deadline} (chain time {chain_now})")
    typed = typed_data_for(ctx, job, decision, owner, body.nonce, body.deadline)
    try:
        signer = eip712.recover_signer(typed, body.signature)
    except Exception as exc:
        raise Unprocessable(f"signature does not parse: {exc}") from None
    if signer != owner:
        what = (
            f"Approval of job {job.job_id} for program {job.program_hash}"
            if decision == "approve"
            else f"Decline of job {job.job_id}"
        )
        raise Unprocessable(
            f"signature over this {what} recovers to {signer}, not to the owner {owner} "
            "(wrong job, program hash, nonce, deadline, chain or contract?)"
        )
    used = session.execute(
        select(Approval.id).where(Approval.owner == owner, Approval.nonce == str(body.nonce))
    ).first()
    if used is not None or chain.ledger.jobs.nonce_used(owner, body.nonce):
        raise Conflict(f"nonce {body.nonce} of {owner} is already used: sign again with a fresh nonce")
    return Approval(
        job_id=job.job_id,
        owner=owner,
        decision=decision,
        signature=body.signature,
        nonce=str(body.nonce),
        deadline=body.deadline,
        status="verified",
    )


def _store(session: Session, row: Approval) -> Approval:
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"nonce {row.nonce} of {row.owner} is already used: sign again with a fresh nonce"
        ) from None
    return row


def _notarize(ctx: AppContext, row: Approval) -> None:
    try:
        ctx.log.append(
            Kind.APPROVAL_SIGNATURE,
            row.owner,
            [f"job:{row.job_id}", f"member:{row.owner}"],
            {
                "job_id": row.job_id,
                "decision": row.decision,
                "nonce": row.nonce,
                "deadline": row.deadline,
                "signature": row.signature,
            },
        )
    except Exception:
        ctx.metrics.notarize_failures.inc()
        log.exception("could not notarize the %s of job %s by %s", row.decision, row.job_id, row.owner)


def relay_decision(ctx: AppContext, session: Session, rows: list[Approval], fn: str, *args: Any) -> TxOut:
    chain = require_chain(ctx)
    try:
        result = chain.relay_as_operator(
            chain.ledger.jobs, fn, *args, wait_seconds=ctx.settings.relay_wait_seconds
        )
    except ApiError as exc:
        ctx.metrics.relay_failures.labels(f"ComputeJobs.{fn}").inc()
        for row in rows:
            row.status, row.error = "failed", exc.detail
            session.add(row)
        session.commit()
        raise
    ctx.metrics.relayed.labels(f"ComputeJobs.{fn}").inc()
    tx_hash = result if isinstance(result, str) else result.tx_hash
    # A conditional update, not the rows loaded before the relay: the background indexer may already have
    # seen the mined events and confirmed them "onchain", and that must not be stepped back.
    ap = Approval.__table__
    session.execute(
        update(ap)
        .where(ap.c.id.in_([row.id for row in rows]), ap.c.status != "onchain")
        .values(status="relayed", tx_hash=tx_hash)
    )
    session.commit()
    if isinstance(result, str):
        # Sent, not mined within the bounded wait: the worker goes; the indexer records the outcome.
        return TxOut(
            tx_hash=tx_hash, sender=chain.relayer.address, kind=f"ComputeJobs.{fn}", status="pending"
        )
    sync_index(ctx)
    return TxOut(
        tx_hash=result.tx_hash,
        sender=chain.relayer.address,  # relay_as_operator refuses to run without a relayer
        kind=f"ComputeJobs.{fn}",
        status="mined",
        block_number=result.block_number,
        events=[event_json(e) for e in result.events],
    )


# Two final approvals may reach two API workers (processes) at once: only the one that inserts the job's
# relay_claim row relays approveBatch; the other waits for that row to say what happened and answers with
# the same transaction. A claim left `relaying` this long belongs to a worker that died mid-relay.
C = RelayClaim.__table__
CLAIM_STALE = timedelta(minutes=5)
CLAIM_POLL_SECONDS = 0.1


def _claim_relay(ctx: AppContext, job_id: int) -> bool:
    """Whether this request won the job's relay claim."""
    try:
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(C).values(job_id=job_id, status="relaying", result={}, claimed_at=datetime.now(UTC))
            )
        return True
    except IntegrityError:
        return False


def relayed_claim(ctx: AppContext, job_id: int) -> TxOut | None:
    """The approveBatch another request relayed for `job_id`, if one did."""
    with ctx.engine.connect() as conn:
        row = conn.execute(select(C.c.status, C.c.result).where(C.c.job_id == job_id)).first()
    return TxOut.model_validate(row.result) if row is not None and row.status == "relayed" else None


def _await_claim(ctx: AppContext, job_id: int, wait_seconds: float) -> tuple[str, TxOut | None]:
    """Wait (bounded) for the winner's claim to settle: ("relayed", tx), ("gone", None) when it failed and
    released the claim, or ("relaying", None) when it is still in flight."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with ctx.engine.connect() as conn:
            row = conn.execute(
                select(C.c.status, C.c.result, C.c.claimed_at).where(C.c.job_id == job_id)
            ).first()
        if row is None:
            return "gone", None
        if row.status == "relayed":
            return "relayed", TxOut.model_validate(row.result)
        claimed_at = row.claimed_at if row.claimed_at.tzinfo else row.claimed_at.replace(tzinfo=UTC)
        if datetime.now(UTC) - claimed_at > CLAIM_STALE:
            with ctx.engine.begin() as conn:
                conn.execute(delete(C).where(C.c.job_id == job_id, C.c.status == "relaying"))
            return "gone", None
        if time.monotonic() >= deadline:
            return "relaying", None
        time.sleep(CLAIM_POLL_SECONDS)


def _relay_batch(ctx: AppContext, session: Session, job: Job, rows: list[Approval]) -> TxOut | None:
    """Relay approveBatch under the job's claim; the loser of the claim gets the winner's transaction."""
    for _ in range(2):
        if _claim_relay(ctx, job.job_id):
            signed = [signed_message(r).as_tuple() for r in rows]
            try:
                out = relay_decision(
                    ctx, session, rows, "approveBatch", job.job_id, terms_tuple(job.terms), signed
                )
            except Exception:
                # Release the claim: the owners may fix what failed and submit again.
                with ctx.engine.begin() as conn:
                    conn.execute(delete(C).where(C.c.job_id == job.job_id))
                raise
            with ctx.engine.begin() as conn:
                conn.execute(
                    update(C)
                    .where(C.c.job_id == job.job_id)
                    .values(status="relayed", tx_hash=out.tx_hash, result=out.model_dump(mode="json"))
                )
            return out
        state, out = _await_claim(ctx, job.job_id, max(ctx.settings.relay_wait_seconds, 1.0) + 60.0)
        if state == "relayed":
            _supersede(session, job.job_id)
            return out
        if state == "relaying":
            return None  # still in flight elsewhere: the job's status will show it
    return None


def _supersede(session: Session, job_id: int) -> None:
    """Approvals of a job another request's approveBatch authorized were never sent: say so."""
    session.expire_all()
    for row in session.execute(
        select(Approval).where(Approval.job_id == job_id, Approval.status == "verified")
    ).scalars():
        row.status, row.error = "superseded", "the job's approveBatch was relayed with another approval"
        session.add(row)
    session.commit()


def relay_if_complete(ctx: AppContext, session: Session, job: Job) -> tuple[list[str], TxOut | None]:
    """Relay approveBatch once every pending owner has a verified approval; returns who is missing."""
    ready = list(
        session.execute(
            select(Approval).where(
                Approval.job_id == job.job_id, Approval.decision == "approve", Approval.status == "verified"
            )
        ).scalars()
    )
    chain_now = int(require_chain(ctx).w3.eth.get_block("latest")["timestamp"])
    for r in ready:
        if r.deadline < chain_now:  # expired while waiting for the others: that owner must sign again
            r.status, r.error = "expired", f"deadline {r.deadline} passed before all owners approved"
            session.add(r)
    session.commit()
    by_owner = {r.owner: r for r in ready if r.status == "verified"}
    waiting = [o for o in pending_owners(job) if o not in by_owner]
    if waiting:
        # Another request may have just relayed the batch with the approvals this one found missing (they
        # are "relayed" now, and this job row predates the indexer's update): then answer with its tx.
        state, out = _await_claim(ctx, job.job_id, max(ctx.settings.relay_wait_seconds, 1.0) + 60.0)
        if state == "relayed":
            _supersede(session, job.job_id)
            return [], out
        return waiting, None
    rows = [by_owner[o] for o in pending_owners(job)]
    return [], _relay_batch(ctx, session, job, rows)


def signed_message(row: Approval) -> eip712.SignedMessage:
    return eip712.SignedMessage.from_signature(row.owner, int(row.nonce), row.deadline, row.signature)


def accept(
    ctx: AppContext, session: Session, job_id: int, member: Principal, decision: str, body: SignatureIn
) -> tuple[Job, Approval]:
    """Verify, store and notarize one owner's signed approval or decline; the job and the stored row."""
    require_chain(ctx)
    job = visible_job(session, job_id, member)
    row = _store(session, verify_signature(ctx, session, job, decision, body))
    _notarize(ctx, row)
    return job, row


def approval_result(
    session: Session, job_id: int, relayed: TxOut | None, waiting: list[str]
) -> ApprovalResultOut:
    # Re-read the job: relaying and indexing changed it behind this session's cached copy.
    session.expire_all()
    job = session.get(Job, job_id)
    return ApprovalResultOut(job=job_out_many(session, [job])[0], relayed=relayed, waiting_for=waiting)


def submit_approval(
    ctx: AppContext, session: Session, job_id: int, member: Principal, body: SignatureIn
) -> ApprovalResultOut:
    """Accept one owner's approval; relay approveBatch if it was the last one missing.

    A final approval that arrives after another request relayed the job's approveBatch answers with that
    transaction (the batch went through), not with an error.
    """
    require_chain(ctx)
    done = relayed_claim(ctx, job_id)
    if done is not None:
        visible_job(session, job_id, member)
        return approval_result(session, job_id, done, [])
    try:
        job, _row = accept(ctx, session, job_id, member, "approve", body)
    except Conflict:
        # E.g. "job is authorized": the winner's relay went through, and its claim is about to say which tx.
        state, out = _await_claim(ctx, job_id, max(ctx.settings.relay_wait_seconds, 1.0))
        if state == "relayed":
            return approval_result(session, job_id, out, [])
        raise
    session.expire_all()
    waiting, relayed = relay_if_complete(ctx, session, job)
    return approval_result(session, job_id, relayed, waiting)


def submit_decline(
    ctx: AppContext, session: Session, job_id: int, member: Principal, body: SignatureIn
) -> ApprovalResultOut:
    """Accept one owner's decline and relay it at once (declineBySig)."""
    job, row = accept(ctx, session, job_id, member, "decline", body)
    relayed = relay_decision(
        ctx, session, [row], "declineBySig", job_id, terms_tuple(job.terms), signed_message(row).as_tuple()
    )
    return approval_result(session, job_id, relayed, [])
