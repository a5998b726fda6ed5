"""Blob routes: content-addressed uploads streamed into the blob store, and streamed downloads."""

from __future__ import annotations

import hashlib
import tempfile
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from dx_core.blobstore import BlobMismatch, BlobNotFound, BlobTooLarge, iter_file
from dx_core.cid import InvalidCID, cid_from_digest, digest_from_cid
from exchange_api.deps import CtxDep, Member
from exchange_api.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    problem_responses,
)
from exchange_api.schemas import BlobOut
from exchange_api.services.quota import already_charged, check_quota, record_upload

router = APIRouter(prefix="/v1/blobs", tags=["blobs"])
SPOOL_BYTES = 8 * 1024 * 1024


def _check_cid(cid: str, what: str = "CID") -> None:
    try:
        digest_from_cid(cid)
    except InvalidCID as exc:
        raise BadRequest(f"{what}: {exc}") from None


@router.put(
    "",
    response_model=BlobOut,
    status_code=201,
    summary="Upload a blob (raw body); returns its CID",
    description="Admitted members only. The body is streamed to the blob store. With `X-Expected-CID` the "
    "upload is refused unless the content hashes to that CID. Uploads above the configured limit, or past "
    "the member's blob quota (DX_BLOB_QUOTA_BYTES), get 413; too many uploads a minute get 429.",
    responses=problem_responses(400, 401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_blob(
    request: Request,
    member: Member,
    ctx: CtxDep,
    x_expected_cid: Annotated[
        str | None, Header(description="refuse the upload unless it has this CID")
    ] = None,
) -> BlobOut:
    if member.roles == 0:
        # The Registry gives a stranger, a removed or a suspended member no role: none of them may store.
        raise Forbidden(
            f"{member.address} is not an active member of the exchange: only admitted members upload blobs"
        )
    limit = ctx.settings.max_blob_bytes
    quota = ctx.settings.blob_quota_bytes
    if x_expected_cid is not None:
        _check_cid(x_expected_cid, "X-Expected-CID")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Content-Length {declared} exceeds the {limit}-byte blob limit")
    if declared is not None and declared.isdigit() and int(declared) > quota:
        # Refuse before reading a byte what could never fit (a re-upload of charged content costs nothing,
        # so anything smaller is checked once its CID is known).
        await run_in_threadpool(check_quota, ctx.engine, member.address, int(declared), quota)
    total = 0
    hasher = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(
                    f"upload exceeds the {limit}-byte blob limit (stopped at {total} bytes)"
                )
            hasher.update(chunk)
            spool.write(chunk)
        if total == 0:
            raise BadRequest("empty body: a blob needs at least one byte")
        content_cid = cid_from_digest(hasher.digest())
        if not await run_in_threadpool(already_charged, ctx.engine, member.address, content_cid):
            await run_in_threadpool(check_quota, ctx.engine, member.address, total, quota)
        spool.seek(0)
        try:
            cid = await run_in_threadpool(ctx.blobs.put_stream, iter_file(spool), x_expected_cid)
        except BlobMismatch as exc:
            raise Unprocessable(str(exc)) from None
        except BlobTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from None
    await run_in_threadpool(record_upload, ctx.engine, member.address, cid, total)
    return BlobOut(cid=cid, size=total)


@router.get(
    "/{cid}",
    summary="Download a blob (streamed)",
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the blob's bytes",
        },
        **problem_responses(400, 404),
    },
    response_class=StreamingResponse,
)
def get_blob(cid: str, ctx: CtxDep) -> StreamingResponse:
    _check_cid(cid)
    try:
        size = ctx.blobs.size(cid)
        stream = ctx.blobs.open_stream(cid)
    except BlobNotFound:
        raise NotFound(f"no blob {cid} is stored") from None
    return StreamingResponse(
        stream,
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{cid}"'},
    )


@router.head(
    "/{cid}",
    summary="Whether a blob is stored, and its size",
    responses={200: {"description": "stored"}, **problem_responses(400, 404)},
)
def head_blob(cid: str, ctx: CtxDep) -> Response:
    _check_cid(cid)
    try:
        size = ctx.blobs.size(cid)
    except BlobNotFound:
        raise NotFound(f"no blob {cid} is stored") from None
    return Response(
        status_code=200,
        headers={"Content-Length": str(size), "ETag": f'"{cid}"'},
        media_type="application/octet-stream",
    )
