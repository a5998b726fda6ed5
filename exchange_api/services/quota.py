"""Per-member blob quota: the bytes of the blobs a member uploaded that are still stored."""

from __future__ import annotations

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from exchange_api.errors import ApiError
from exchange_api.models import BlobUpload

U = BlobUpload.__table__


class QuotaExceeded(ApiError):
    """An upload that would take its member past DX_BLOB_QUOTA_BYTES."""

    status, slug, title = 413, "blob-quota-exceeded", "Blob quota exceeded"


def used_bytes(engine: Engine, uploader: str) -> int:
    """What `uploader` holds: the sizes of its uploads that the collector has not deleted."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.coalesce(func.sum(U.c.size), 0)).where(U.c.uploader == uploader)
            ).scalar()
        )


def already_charged(engine: Engine, uploader: str, cid: str) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(select(U.c.cid).where(U.c.uploader == uploader, U.c.cid == cid)).first() is not None
        )


def check_quota(engine: Engine, uploader: str, size: int, quota: int) -> None:
    """Refuse (413, naming the quota) an upload of `size` more bytes past `uploader`'s quota."""
    used = used_bytes(engine, uploader)
    if used + size > quota:
        raise QuotaExceeded(
            f"an upload of {size} bytes would take {uploader} past its blob quota of {quota} bytes "
            f"(DX_BLOB_QUOTA_BYTES; {used} bytes used): blobs no listing or job references are "
            "deleted after the grace period, which frees quota",
            extra={"quota": {"name": "blob_quota_bytes", "limit": quota, "used": used, "requested": size}},
        )


def record_upload(engine: Engine, uploader: str, cid: str, size: int) -> None:
    """Charge `cid` to `uploader` once; uploading the same content again costs nothing more."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(U).values(cid=cid, uploader=uploader, size=size, created_at=BlobUpload().created_at)
            )
    except IntegrityError:
        pass
