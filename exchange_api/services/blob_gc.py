"""Garbage collection of uploaded blobs that no listing, job or result references, after a grace period."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from dx_core.blobstore import BlobNotFound
from dx_core.cid import InvalidCID, cid_from_digest, digest_from_cid
from exchange_api.deps import AppContext
from exchange_api.models import Attestation, BlobUpload, Job, Listing

log = logging.getLogger("exchange_api.blob_gc")
U = BlobUpload.__table__
# Documents read to follow their references (metadata, manifests, job specs) are small JSON; a larger
# blob is data (a sealed bundle), whose bytes reference nothing.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def _cid_of_hash(value: str) -> str | None:
    try:
        return cid_from_digest(bytes.fromhex(value.removeprefix("0x")))
    except (ValueError, InvalidCID):
        return None


def _is_cid(value: str) -> bool:
    try:
        digest_from_cid(value)
    except (InvalidCID, ValueError, TypeError):
        return False
    return True


def _roots(ctx: AppContext) -> set[str]:
    """CIDs the database names: listing metadata and manifests, job specs, attested output shares."""
    with ctx.engine.connect() as conn:
        listings = conn.execute(select(Listing.metadata_cid, Listing.manifest_hash)).all()
        params = conn.execute(select(Job.param_hash)).scalars().all()
        outputs = conn.execute(select(Attestation.output_share_hash)).scalars().all()
    roots = {m for m, _ in listings if m}
    roots |= {c for c in (_cid_of_hash(h) for _, h in listings if h) if c}
    roots |= {c for c in (_cid_of_hash(h) for h in [*params, *outputs] if h) if c}
    return roots


def referenced_cids(ctx: AppContext) -> set[str]:
    """Every CID reachable from the database's roots: a JSON document (metadata, manifest, spec) references
    each CID string it holds (a manifest's share bundles, a model's weights), transitively."""
    seen: set[str] = set()
    todo = list(_roots(ctx))
    while todo:
        cid = todo.pop()
        if cid in seen:
            continue
        seen.add(cid)
        try:
            if ctx.blobs.size(cid) > MAX_DOCUMENT_BYTES:
                continue
            data = b"".join(ctx.blobs.open_stream(cid))
        except BlobNotFound:
            continue
        # Any other error propagates: a document we could not read may reference blobs, so collecting now
        # could delete live data. The collector runs again later.
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            continue
        stack = [doc]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str) and item not in seen and _is_cid(item):
                todo.append(item)
    return seen


def collect_garbage(ctx: AppContext, now: datetime | None = None) -> list[str]:
    """Delete the uploaded blobs older than the grace period that nothing references; returns their CIDs.

    Only blobs uploaded through the API (the `blob_upload` table) are candidates: anything else in the store
    was put there by an operator or a node and is not the API's to delete. The newest upload of a CID counts,
    so a blob someone just uploaded again (say, for a listing about to be published) waits a full grace.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=ctx.settings.blob_gc_grace_seconds)
    with ctx.engine.connect() as conn:
        candidates = (
            conn.execute(select(U.c.cid).group_by(U.c.cid).having(func.max(U.c.created_at) < cutoff))
            .scalars()
            .all()
        )
    if not candidates:
        return []
    keep = referenced_cids(ctx)
    deleted = []
    for cid in candidates:
        if cid in keep:
            continue
        try:
            ctx.blobs.delete(cid)
        except BlobNotFound:
            pass
        with ctx.engine.begin() as conn:
            conn.execute(delete(U).where(U.c.cid == cid, U.c.created_at < cutoff))
        deleted.append(cid)
    if deleted:
        log.info("deleted %d unreferenced blobs", len(deleted), extra={"cids": deleted[:20]})
    return deleted
