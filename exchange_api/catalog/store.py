"""Writes of the listing cache: one code path for the indexer, the benchmark seeder and tests."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import delete, insert, select
from sqlmodel import Session

from exchange_api.models import CatalogMeta, Listing, ListingColumn, ListingTag, ListingToken

log = logging.getLogger("exchange_api.listings")
L = Listing.__table__
MAX_TAGS = 32
MAX_COLUMNS = 512
MAX_TOKENS = 256
_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """The distinct lower-case alphanumeric words of `text` (what catalog text search matches)."""
    out: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        out.setdefault(word[:64], None)
        if len(out) >= MAX_TOKENS:
            break
    return list(out)


def parse_metadata(raw: bytes | None) -> dict[str, Any]:
    """The listing's metadata document (JSON: title, description, tags, columns, ...); {} if unusable."""
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _clean_tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    out: list[str] = []
    for tag in value[:MAX_TAGS]:
        if isinstance(tag, str) and tag.strip():
            t = tag.strip().lower()[:64]
            if t not in out:
                out.append(t)
    return out


def _clean_columns(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for col in value[:MAX_COLUMNS]:
        if isinstance(col, str):
            col = {"name": col}
        if not isinstance(col, dict) or not isinstance(col.get("name"), str):
            continue
        name = col["name"].strip().lower()[:128]
        if name and name not in seen:
            seen.add(name)
            out.append({"name": name, "dtype": str(col.get("dtype", ""))[:32]})
    return out


def metadata_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The searchable fields of a metadata document, cleaned and bounded."""
    title = str(doc.get("title") or doc.get("name") or "")[:300]
    description = str(doc.get("description") or "")[:10_000]
    tags = _clean_tags(doc.get("tags"))
    columns = _clean_columns(doc.get("columns") or doc.get("schema"))
    search_text = " ".join([title, description, *tags, *(c["name"] for c in columns)]).lower()
    extra = {
        k: v for k, v in doc.items() if k not in {"title", "name", "description", "tags", "columns", "schema"}
    }
    return {
        "title": title,
        "description": description,
        "tags": tags,
        "columns": columns,
        "search_text": search_text,
        "extra": extra,
    }


def bump_catalog_version(session: Session) -> None:
    """Readers holding an in-memory copy of the catalog compare this counter to know they are stale."""
    meta = CatalogMeta.__table__
    session.execute(meta.update().where(meta.c.id == 1).values(version=meta.c.version + 1))


def upsert_listing(
    session: Session, kind: str, listing_id: int, *, metadata: dict[str, Any] | None = None, **fields: Any
) -> int:
    """Insert or update a listing (and its tag and column rows); returns its primary key."""
    pk = session.execute(select(L.c.pk).where(L.c.kind == kind, L.c.listing_id == listing_id)).scalar()
    values = dict(fields)
    if values.get("owner"):
        values["owner"] = to_checksum_address(values["owner"])  # one spelling, so owner filters use the index
    if "price_wei" in values:
        values["price_wei"] = str(int(values["price_wei"]))
        values["price_sort"] = float(int(values["price_wei"]))
    if metadata is not None:
        values.update(metadata_fields(metadata))
    if pk is None:
        values.setdefault("owner", "")
        values.setdefault("metadata_cid", "")
        for key, default in (("tags", []), ("columns", []), ("extra", {})):
            values.setdefault(key, default)
        pk = session.execute(
            insert(L).values(kind=kind, listing_id=listing_id, **values)
        ).inserted_primary_key[0]
    elif values:
        session.execute(L.update().where(L.c.pk == pk).values(**values))
    bump_catalog_version(session)
    if metadata is not None:
        session.execute(delete(ListingTag.__table__).where(ListingTag.__table__.c.listing_pk == pk))
        session.execute(delete(ListingColumn.__table__).where(ListingColumn.__table__.c.listing_pk == pk))
        session.execute(delete(ListingToken.__table__).where(ListingToken.__table__.c.listing_pk == pk))
        words = tokens(values["search_text"])
        if words:
            session.execute(insert(ListingToken.__table__), [{"listing_pk": pk, "token": w} for w in words])
        if values["tags"]:
            session.execute(
                insert(ListingTag.__table__), [{"listing_pk": pk, "tag": t} for t in values["tags"]]
            )
        if values["columns"]:
            session.execute(
                insert(ListingColumn.__table__),
                [{"listing_pk": pk, "name": c["name"], "dtype": c["dtype"]} for c in values["columns"]],
            )
    return int(pk)
