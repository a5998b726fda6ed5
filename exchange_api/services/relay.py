"""Transaction relay: members' client-signed txs go to the chain; the DB records intents as pending only.

A relay waits for its receipt a bounded time (DX_RELAY_WAIT_SECONDS), then answers with the tx still
`pending`: a tx that never mines must not hold a worker. The receipt poller (`poll_pending`, run by the
app's housekeeping loop) records what the chain later says.
"""

from __future__ import annotations

import logging
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import select
from sqlmodel import Session
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from contracts import ContractRevert, DecodedEvent, LedgerError, TxResult
from exchange_api.chain import ChainGateway, RawTx, jsonable, revert_problem
from exchange_api.deps import AppContext
from exchange_api.errors import (
    ApiError,
    BadRequest,
    ChainUnavailable,
    ContractRejected,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from exchange_api.models import PendingTx
from exchange_api.schemas import TxEventOut, TxOut

log = logging.getLogger("exchange_api.relay")
RELAYABLE = {
    "Market": {
        "listDataset",
        "updateDataset",
        "delistDataset",
        "setAlgorithmPolicy",
        "setBuyerPolicy",
        "setPrivacyBudget",
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


def require_chain(ctx: AppContext) -> ChainGateway:
    if ctx.chain is None:
        raise ServiceUnavailable("no ledger deployment is configured on this API")
    return ctx.chain


def event_json(ev: DecodedEvent) -> TxEventOut:
    return TxEventOut(contract=ev.contract, event=ev.event, args=jsonable(ev.args))


def record_tx(session: Session, tx_hash: str, **values: Any) -> PendingTx:
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
    tx = chain.decode_raw(raw_hex)
    chain.check_sender(tx, member, allowed if allowed is not None else RELAYABLE.get(tx.contract, set()))
    kind = f"{tx.contract}.{tx.function}"
    record_tx(session, tx.tx_hash, sender=tx.sender, kind=kind, status="pending")
    try:
        result = send_bounded(chain, tx, ctx.settings.relay_wait_seconds)
    except ChainUnavailable as exc:
        # The tx may or may not have reached the node: it stays pending; the indexer will tell.
        ctx.metrics.relay_failures.labels(kind).inc()
        record_tx(session, tx.tx_hash, error=exc.detail)
        raise
    except ApiError as exc:
        ctx.metrics.relay_failures.labels(kind).inc()
        record_tx(session, tx.tx_hash, status="reverted", error=exc.detail)
        raise
    ctx.metrics.relayed.labels(kind).inc()
    if result is None:
        # Sent, not mined yet: the answer says so (202); the receipt poller finishes the record.
        return TxOut(tx_hash=tx.tx_hash, sender=tx.sender, kind=kind, status="pending")
    record_tx(session, tx.tx_hash, status="mined", block_number=result.block_number)
    sync_index(ctx)
    return TxOut(
        tx_hash=tx.tx_hash,
        sender=tx.sender,
        kind=kind,
        status="mined",
        block_number=result.block_number,
        events=[event_json(e) for e in result.events],
    )


def track_sent(ctx: AppContext, session: Session, member: str, tx_hash: str) -> TxOut:
    """Record a tx the member sent itself: pending until its receipt shows (a bounded wait for it)."""
    chain = require_chain(ctx)
    try:
        tx = chain.w3.eth.get_transaction(tx_hash)
    except Exception:
        raise NotFound(f"the chain knows no transaction {tx_hash}") from None
    if tx["from"] != member:
        raise Forbidden(f"transaction {tx_hash} was sent by {tx['from']}, not by {member}")
    contract = chain.contract_name(tx["to"]) if tx.get("to") else None
    if contract is None:
        raise BadRequest(f"transaction {tx_hash} does not call a ledger contract")
    kind = f"{contract}.{chain.function_name(contract, bytes(HexBytes(tx['input'])))}"
    record_tx(session, tx_hash, sender=member, kind=kind, status="pending")
    try:
        receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=ctx.settings.relay_wait_seconds)
    except Exception:
        return TxOut(tx_hash=tx_hash, sender=member, kind=kind, status="pending")
    status = "mined" if receipt["status"] == 1 else "reverted"
    record_tx(session, tx_hash, status=status, block_number=int(receipt["blockNumber"]))
    sync_index(ctx)
    events = [
        event_json(e) for e in (chain.ledger.decoder.decode(lg) for lg in receipt["logs"]) if e is not None
    ]
    return TxOut(
        tx_hash=tx_hash,
        sender=member,
        kind=kind,
        status=status,
        block_number=int(receipt["blockNumber"]),
        events=events,
    )


def send_bounded(chain: ChainGateway, tx: RawTx, wait_seconds: float) -> TxResult | None:
    """Send a signed tx and wait at most `wait_seconds` for its receipt: the result, or None if not mined
    yet. Errors become the same problems as ChainGateway.send_raw's (a revert names its custom error)."""
    sender = chain.ledger.sender
    what = f"{tx.contract}.{tx.function}"
    try:
        try:
            tx_hash = chain.w3.eth.send_raw_transaction(HexBytes(tx.raw))
        except (ContractLogicError, Web3RPCError, ValueError) as exc:
            raise sender.revert_error(exc, tx.contract) from None
        try:
            return sender.wait(tx_hash, tx.contract, timeout=wait_seconds)
        except TimeExhausted:
            return None
    except ContractRevert as exc:
        raise revert_problem(exc, what) from None
    except LedgerError as exc:
        raise ContractRejected(f"{what} failed: {exc}") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise ChainUnavailable(f"could not reach the chain: {exc}") from None
    except (Web3Exception, ValueError) as exc:
        # e.g. a nonce too low, too little gas or balance: the node refused it before any block
        raise Unprocessable(f"the node refused {what}: {exc}") from None


def poll_pending(ctx: AppContext, limit: int = 200) -> int:
    """Record the receipts of pending txs that have one now (never blocks on a tx); returns how many."""
    if ctx.chain is None:
        return 0
    chain = ctx.chain
    done = 0
    with Session(ctx.engine, expire_on_commit=False) as session:
        pending = (
            session.exec(  # type: ignore[call-overload]
                select(PendingTx)
                .where(PendingTx.status == "pending")
                .order_by(PendingTx.created_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        for row in pending:
            try:
                receipt = chain.w3.eth.get_transaction_receipt(row.tx_hash)
            except TransactionNotFound:
                continue
            except Exception as exc:  # the chain is away: try again next round
                log.warning("receipt poll of %s failed: %s", row.tx_hash, exc)
                break
            if receipt is None:
                continue
            status = "mined" if receipt["status"] == 1 else "reverted"
            row.status, row.block_number = status, int(receipt["blockNumber"])
            if status == "reverted":
                row.error = "reverted on-chain (seen by the receipt poller)"
                ctx.metrics.relay_failures.labels(row.kind).inc()
            session.add(row)
            session.commit()
            done += 1
    if done:
        sync_index(ctx)
    return done
