"""Transaction routes: relay a member's signed tx, track one it sent itself, read a tx's status."""

from __future__ import annotations

from fastapi import APIRouter, Response

from exchange_api.deps import CtxDep, Member, SessionDep
from exchange_api.errors import Forbidden, NotFound, problem_responses
from exchange_api.models import PendingTx
from exchange_api.schemas import RelayIn, TrackIn, TxOut
from exchange_api.services.relay import relay_signed, track_sent

router = APIRouter(prefix="/v1/tx", tags=["tx"])


@router.post(
    "/relay",
    response_model=TxOut,
    summary="Relay a transaction the member signed locally",
    description="The API checks the signer is the signed-in member, the target is a ledger contract and the "
    "function is one members may call, then sends it and waits a bounded time for the receipt (202 with the "
    "tx still `pending` when it is not mined by then). A revert is a 422 naming the contract's custom error. "
    "The database only records what the chain shows: an intent stays `pending` until the tx is mined.",
    responses=problem_responses(400, 401, 403, 422, 503),
)
def relay(
    body: RelayIn,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
    response: Response,
) -> TxOut:
    out = relay_signed(ctx, session, member.address, body.raw_tx)
    if out.status == "pending":
        response.status_code = 202  # sent, not mined yet: GET /v1/tx/{hash} follows it
    return out


@router.post(
    "/track",
    response_model=TxOut,
    summary="Tell the API about a transaction the member sent itself",
    responses=problem_responses(400, 401, 403, 404, 503),
)
def track(
    body: TrackIn,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> TxOut:
    return track_sent(ctx, session, member.address, body.tx_hash)


@router.get(
    "/{tx_hash}",
    response_model=TxOut,
    summary="Status of a relayed or tracked transaction",
    responses=problem_responses(401, 403, 404, 422),
)
def tx_status(tx_hash: str, member: Member, session: SessionDep) -> TxOut:
    row = session.get(PendingTx, tx_hash.lower()) or session.get(PendingTx, tx_hash)
    if row is None:
        raise NotFound(f"this API neither relayed nor tracked transaction {tx_hash}")
    if row.sender != member.address and not member.is_regulator:
        raise Forbidden(f"transaction {tx_hash} belongs to {row.sender}")
    return TxOut(
        tx_hash=row.tx_hash,
        sender=row.sender,
        kind=row.kind,
        status=row.status,
        block_number=row.block_number,
        error=row.error,
    )
