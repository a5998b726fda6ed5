"""Settlement routes: a member's earnings, and the withdraw, reclaim and key-rotation txs it signs."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from exchange_api.deps import CtxDep, Member, SessionDep
from exchange_api.errors import problem_responses
from exchange_api.schemas import UnsignedTx
from exchange_api.services.settlement import build_reclaim, build_rotate_key, build_withdraw, earnings

router = APIRouter(prefix="/v1", tags=["settlement"])
ERRORS = problem_responses(401, 403, 404, 422, 503)


class RotateKeyIn(BaseModel):
    """The member's new X25519 public key."""

    new_key: str = Field(pattern=r"^(0x)?[0-9a-fA-F]{64}$", description="32 bytes, 64 hex digits")


@router.get(
    "/me/earnings",
    responses=ERRORS,
    summary="The member's withdrawable balance (from the chain), what each job credited it, and its "
    "reclaimable jobs",
)
def my_earnings(member: Member, ctx: CtxDep, session: SessionDep) -> dict:
    return earnings(ctx, session, member)


@router.post(
    "/me/build-withdraw",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build ComputeJobs.withdraw: pays out the member's whole credited balance",
    description="A zero balance surfaces as 422 with the contract error NothingToWithdraw.",
)
def build_withdraw_tx(member: Member, ctx: CtxDep) -> UnsignedTx:
    return build_withdraw(ctx, member)


@router.post(
    "/jobs/{job_id}/build-reclaim",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build ComputeJobs.reclaim: the buyer's escrow back from an unfinished job past its deadline",
    description="Before the deadline: 422 DeadlineNotReached; a finished job: 422 InvalidStatus.",
)
def build_reclaim_tx(job_id: int, member: Member, ctx: CtxDep, session: SessionDep) -> UnsignedTx:
    return build_reclaim(ctx, session, job_id, member)


@router.post(
    "/me/build-rotate-key",
    response_model=UnsignedTx,
    responses=ERRORS,
    summary="Build Registry.rotateKey: the member's new X25519 key for sealed shares and results",
)
def build_rotate_key_tx(body: RotateKeyIn, member: Member, ctx: CtxDep) -> UnsignedTx:
    return build_rotate_key(ctx, member, body.new_key)
