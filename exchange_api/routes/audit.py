"""The regulator's audit routes (FastAPI): entries with proofs, job trails, dataset usage, exports."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from contracts import Ledger
from dx_core import keystore
from dx_core.settings import get_settings
from exchange_api.errors import problem_response
from notarizer.bundle import build_bundle, proved_entry
from notarizer.log import EntryNotFound, TransparencyLog
from notarizer.proofs import ProofError
from notarizer.usage import dataset_usage as usage_of_dataset

logger = logging.getLogger("exchange_api.audit")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def problem(request: Request, status: int, title: str, detail: str, kind: str) -> JSONResponse:
    """An RFC 9457 problem response of type `kind` (the API's one problem+json writer)."""
    return problem_response(request, status, detail, slug=kind, title=title)


def _instant(value: str | None) -> int | None:
    """µs since the epoch from an integer or an ISO 8601 time with a zone offset."""
    if value is None or value == "":
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time {value!r} has no zone offset (add Z or +hh:mm)")
    return (moment - _EPOCH) // timedelta(microseconds=1)  # exact, unlike float timestamp()


def _default_signer() -> LocalAccount | None:
    """The notarizer's account (DX_NOTARIZER_KEY, else DX_RELAYER_KEY): it holds the Notary's role, so a
    verifier can check a bundle's signer on-chain. None (unsigned bundles) if no key is configured."""
    settings = get_settings()
    key = settings.notarizer_key or settings.relayer_key
    if not key:
        return None
    try:
        return keystore.load_signer(key)
    except Exception as exc:  # a keystore without its password: export unsigned rather than fail
        logger.warning(
            "cannot load the bundle signing key (%s); exported bundles are unsigned", type(exc).__name__
        )
        return None


def make_audit_router(
    log: TransparencyLog,
    require_regulator: Callable[..., Any],
    ledger_provider: Callable[[], Ledger] | None = None,
    signer: LocalAccount | None = None,
) -> APIRouter:
    """Routes under /audit, every one behind `require_regulator`. `ledger_provider()` (optional) returns
    the contracts.Ledger whose Notary the bundles name; `signer` signs exported bundles (default: the
    notarizer's account from settings)."""
    router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(require_regulator)])
    signers: list[LocalAccount | None] = [signer] if signer is not None else []

    def bundle_signer() -> LocalAccount | None:
        if not signers:
            signers.append(_default_signer())
        return signers[0]

    def notary_ref() -> tuple[str | None, int | None]:
        if ledger_provider is None:
            return None, None
        ledger = ledger_provider()
        return ledger.notary.address, ledger.w3.eth.chain_id

    @router.get("/entries")
    def list_entries(
        request: Request,
        actor: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        since: str | None = Query(None, description="inclusive: µs since epoch or ISO 8601 with a zone"),
        until: str | None = Query(None, description="exclusive: µs since epoch or ISO 8601 with a zone"),
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Any:
        try:
            filters = {
                "actor": actor,
                "kind": kind,
                "subject": subject,
                "since": _instant(since),
                "until": _instant(until),
            }
            items = log.entries(**filters, offset=offset, limit=limit)
            total = log.count(**filters)
        except ValueError as exc:
            return problem(request, 400, "Invalid filter", str(exc), "invalid-filter")
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "next_offset": offset + len(items) if offset + len(items) < total else None,
            "size": log.size(),
            "items": [e.to_json() for e in items],
        }

    @router.get("/entries/{seq}")
    def get_entry(request: Request, seq: int) -> Any:
        try:
            entry = log.entry(seq)
        except EntryNotFound as exc:
            return problem(request, 404, "Entry not found", str(exc), "entry-not-found")
        return proved_entry(log, entry, log.checkpoints(), latest=True)

    @router.get("/jobs/{job_id}/trail")
    def job_trail(request: Request, job_id: int) -> Any:
        cps = log.checkpoints()
        entries = log.entries(subject=f"job:{job_id}", limit=None)
        if not entries:
            return problem(request, 404, "No trail", f"no log entry names job:{job_id}", "trail-not-found")
        return {"job": job_id, "entries": [proved_entry(log, e, cps) for e in entries]}

    @router.get("/datasets/{dataset_id}/usage")
    def dataset_usage(dataset_id: int) -> Any:
        return usage_of_dataset(log, dataset_id)

    @router.get("/checkpoints")
    def checkpoints() -> Any:
        out, previous = [], None
        for cp in log.checkpoints():
            item = cp.to_json()
            if previous is not None:
                item["consistency_from_previous"] = {
                    "from_size": previous.tree_size,
                    "proof": [h.hex() for h in log.consistency_proof(previous.tree_size, cp.tree_size)],
                }
            out.append(item)
            previous = cp
        return {"size": log.size(), "checkpoints": out}

    @router.get("/consistency")
    def consistency(
        request: Request, old: int = Query(..., ge=0), new: int | None = Query(None, ge=0)
    ) -> Any:
        try:
            new_size = log.size() if new is None else new
            return {
                "old_size": old,
                "new_size": new_size,
                "old_root": log.root(old).hex(),
                "new_root": log.root(new_size).hex(),
                "proof": [h.hex() for h in log.consistency_proof(old, new_size)],
            }
        except ProofError as exc:
            return problem(request, 400, "No such proof", str(exc), "invalid-proof-request")

    @router.get("/export")
    def export(request: Request, job: int | None = None, dataset: int | None = None) -> Any:
        """A signed bundle of one job's or dataset's trail; with neither, the whole log as JSON lines."""
        if job is not None and dataset is not None:
            return problem(
                request, 400, "Ambiguous export", "give either job or dataset, not both", "invalid-export"
            )
        if job is None and dataset is None:

            def lines() -> Iterator[bytes]:
                for entry in log.iter_entries():
                    yield json.dumps(entry.to_json(), separators=(",", ":")).encode() + b"\n"

            return StreamingResponse(lines(), media_type="application/x-ndjson")
        subject = f"job:{job}" if job is not None else f"dataset:{dataset}"
        address, chain_id = notary_ref()
        return build_bundle(log, subject, bundle_signer(), address, chain_id)

    return router
