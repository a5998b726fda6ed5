"""Transaction relay: members' client-signed txs go to the chain; the DB records intents as pending only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from hexbytes import HexBytes
from sqlmodel import Session

from exchange_api.auth import Member
from exchange_api.chain import RawTx
from exchange_api.context import AppContext, CtxDep, SessionDep
from exchange_api.errors import (
    ApiError,
    BadRequest,
    ChainUnavailable,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    problem_responses,
)
from exchange_api.models import PendingTx
from exchange_api.schemas import RelayIn, TrackIn, TxEventOut, TxOut

log = logging.getLogger("exchange_api.relay")
router = APIRouter(prefix="/v1/tx", tags=["tx"])
RELAYABLE = {
    "Market": {
        "listDataset",
        "updateDataset",
        "delistDataset",
        "setAlgorithmPolicy",
        "setBuyerPolicy",
        "listAlgorithm",
        "updateAlgorithm",
        "delistAlgorithm",
    },
    "ComputeJobs": {
        "request",
        "approve",
        "decline",
        "attest",
        "attestDestruction",
        "reclaim",
        "withdraw",
        "invalidateNonce",
    },
    "Registry": {"rotateKey", "updateMetadata"},
}


def require_chain(ctx: AppContext) -> Any:
    if ctx.chain is None:
        raise ServiceUnavailable("no ledger deployment is configured on this API")
    return ctx.chain


def event_json(ev: Any) -> TxEventOut:
    from exchange_api.indexer import _jsonable

    return TxEventOut(contract=ev.contract, event=ev.event, args=_jsonable(ev.args))


def _record(session: Session, tx_hash: str, **values: Any) -> PendingTx:
    row = session.get(PendingTx, tx_hash) or PendingTx(tx_hash=tx_hash, sender=values.get("sender", ""))
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    session.commit()
    return row


def sync_index(ctx: AppContext) -> None:
    """Index now, so the relaying client reads its own write; the background loop would get there too."""
    if ctx.indexer is not None:
        try:
            ctx.indexer.run_once()
        except Exception as exc:
            log.warning("index after relay failed (the background indexer will retry): %s", exc)


def relay_signed(
    ctx: AppContext, session: Session, member: str, raw_hex: str, allowed: set[str] | None = None
) -> TxOut:
    """Check a member's signed tx, record it as pending, relay it, and record only what the chain says."""
    chain = require_chain(ctx)
    tx: RawTx = chain.decode_raw(raw_hex)
    chain.check_sender(tx, member, allowed if allowed is not None else RELAYABLE.get(tx.contract, set()))
    kind = f"{tx.contract}.{tx.function}"
    _record(session, tx.tx_hash, sender=tx.sender, kind=kind, status="pending")
    try:
        result = chain.send_raw(tx)
    except ChainUnavailable as exc:
        # The tx may or may not have reached the node: it stays pending; the indexer will tell.
        ctx.metrics.relay_failures.labels(kind).inc()
        _record(session, tx.tx_hash, error=exc.detail)
        raise
    except ApiError as exc:
        ctx.metrics.relay_failures.labels(kind).inc()
        _record(session, tx.tx_hash, status="reverted", error=exc.detail)
        raise
    ctx.metrics.relayed.labels(kind).inc()
    _record(session, tx.tx_hash, status="mined", block_number=result.block_number)
    sync_index(ctx)
    return TxOut(
        tx_hash=tx.tx_hash,
        sender=tx.sender,
        kind=kind,
        status="mined",
        block_number=result.block_number,
        events=[event_json(e) for e in result.events],
    )


@router.post(
    "/relay",
    response_model=TxOut,
    summary="Relay a transaction the member signed locally",
    description="The API checks the signer is the signed-in member, the target is a ledger contract and the "
    "function is one members may call, then sends it and waits for the receipt. A revert is a 422 naming the "
    "contract's custom error. The database only records what the chain shows: an intent stays `pending` "
    "until the tx is mined.",
    responses=problem_responses(400, 401, 403, 422, 503),
)
def relay(
    body: RelayIn,
    member: Member,
    ctx: CtxDep,
    session: SessionDep,
) -> TxOut:
    return relay_signed(ctx, session, member.address, body.raw_tx)


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
    chain = require_chain(ctx)
    try:
        tx = chain.w3.eth.get_transaction(body.tx_hash)
    except Exception:
        raise NotFound(f"the chain knows no transaction {body.tx_hash}") from None
    if tx["from"] != member.address:
        raise Forbidden(f"transaction {body.tx_hash} was sent by {tx['from']}, not by {member.address}")
    contract = chain._by_address.get(tx["to"]) if tx.get("to") else None
    if contract is None:
        raise BadRequest(f"transaction {body.tx_hash} does not call a ledger contract")
    kind = f"{contract}.{chain._function_name(contract, bytes(HexBytes(tx['input'])))}"
    _record(session, body.tx_hash, sender=member.address, kind=kind, status="pending")
    try:
        receipt = chain.w3.eth.wait_for_transaction_receipt(body.tx_hash, timeout=30)
    except Exception:
        return TxOut(tx_hash=body.tx_hash, sender=member.address, kind=kind, status="pending")
    status = "mined" if receipt["status"] == 1 else "reverted"
    _record(session, body.tx_hash, status=status, block_number=int(receipt["blockNumber"]))
    sync_index(ctx)
    events = [
        event_json(e) for e in (chain.ledger.decoder.decode(lg) for lg in receipt["logs"]) if e is not None
    ]
    return TxOut(
        tx_hash=body.tx_hash,
        sender=member.address,
        kind=kind,
        status=status,
        block_number=int(receipt["blockNumber"]),
        events=events,
    )


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
