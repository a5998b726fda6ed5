"""The transparency log on the shared database: serialized appends, stored subtree hashes, proofs."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from notarizer.checkpoints import AnchoredCheckpoint, CheckpointStore
from notarizer.entry import (
    InvalidEntry,
    LogEntry,
    canonical_payload,
    check_kind,
    check_payload_hash,
    entry_leaf_bytes,
    normalize_actor,
)
from notarizer.proofs import (
    EMPTY_ROOT,
    CompactRange,
    NodeId,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_id,
    resolve_ranges,
)
from notarizer.tables import LogCheckpoint, LogEntryRow, LogNode, LogState, LogSubject, create_tables

__all__ = ["AnchoredCheckpoint", "EntryNotFound", "LogError", "NewEntry", "TransparencyLog", "create_tables"]

_STATE = LogState.__table__
_ENTRIES = LogEntryRow.__table__
_SUBJECTS = LogSubject.__table__
_NODES = LogNode.__table__
_CHECKPOINTS = LogCheckpoint.__table__
_NODE_CACHE_LIMIT = 200_000


class LogError(RuntimeError):
    """The log's storage is not in the state an operation needs."""


class EntryNotFound(LookupError):
    """No entry with the requested sequence number."""


@dataclass(frozen=True)
class NewEntry:
    """An entry to append. Give `payload` (stored and hashed) or only `payload_hash` (payload withheld)."""

    kind: str
    actor: str
    subjects: Sequence[str] = ()
    payload: Any = None
    payload_hash: str | None = None


def _to_us(value: datetime | int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    return int(value)


def _check_subjects(subjects: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for s in subjects:
        if not isinstance(s, str) or ":" not in s or len(s) > 160:
            raise InvalidEntry(f"subject {s!r} is not of the form '<type>:<id>' (at most 160 characters)")
        kind, _, ident = s.partition(":")
        s = f"{kind}:{normalize_actor(ident)}"
        if s not in out:
            out.append(s)
    return tuple(out)


def _prepare(item: NewEntry | Mapping[str, Any]) -> tuple[str, str, tuple[str, ...], str | None, str, Any]:
    if not isinstance(item, NewEntry):
        item = NewEntry(**item)
    kind = check_kind(item.kind)
    actor = normalize_actor(item.actor)
    subjects = _check_subjects(item.subjects)
    if item.payload is None and item.payload_hash is not None:
        return kind, actor, subjects, None, check_payload_hash(item.payload_hash), None
    raw = canonical_payload(item.payload)
    text, digest = raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()  # = payload_digest(payload)
    if item.payload_hash is not None and item.payload_hash != digest:
        raise InvalidEntry(f"payload_hash {item.payload_hash} does not match the payload's hash {digest}")
    return kind, actor, subjects, text, digest, json.loads(text)


def _insert_rows(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # executemany sends one INSERT per row; COPY in the same transaction streams them all at once.
        cols = list(rows[0])
        with conn.connection.dbapi_connection.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in cols])
    elif conn.dialect.paramstyle == "qmark":
        # The driver's executemany with positional rows skips SQLAlchemy's per-row parameter processing.
        cols = list(rows[0])
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        conn.exec_driver_sql(sql, [tuple(row[c] for c in cols) for row in rows])
    else:
        conn.execute(insert(table), rows)


class TransparencyLog(CheckpointStore):
    """Append-only log whose entries are the leaves of an RFC 6962 tree stored as perfect subtrees."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._node_cache: dict[NodeId, bytes] = {}
        self._seen_size = 0

    # -- appending -------------------------------------------------------------------------------------

    def append(
        self,
        kind: str,
        actor: str,
        subjects: Sequence[str] = (),
        payload: Any = None,
        payload_hash: str | None = None,
    ) -> LogEntry:
        """Append one entry durably (committed before returning) and return it with its sequence number."""
        return self.append_many([NewEntry(kind, actor, subjects, payload, payload_hash)])[0]

    def append_many(self, items: Sequence[NewEntry | Mapping[str, Any]]) -> list[LogEntry]:
        """Append entries in one transaction: consecutive sequence numbers, all or nothing."""
        prepared = [_prepare(it) for it in items]
        if not prepared:
            return []
        with self.engine.begin() as conn:
            # Taking the state row's write lock first serializes appenders on PostgreSQL (row lock) and
            # on SQLite (the first write takes the database's RESERVED lock) before anything is read.
            res = conn.execute(
                update(_STATE).where(_STATE.c.id == 1).values(size=_STATE.c.size + len(prepared))
            )
            if res.rowcount != 1:
                raise LogError("the log has no state row: call notarizer.log.create_tables(engine) first")
            start = conn.execute(select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one() - len(prepared)
            pieces = CompactRange.piece_ids(start)
            found = self._fetch(conn, pieces)
            if len(found) != len(pieces):
                raise LogError(
                    f"stored tree of size {start} lacks its right-edge subtrees; storage is damaged"
                )
            rng = CompactRange(start, [found[p] for p in pieces])
            now = time.time_ns() // 1000
            if start:
                # Entry times never go backwards, even if this host's clock does or hosts disagree.
                last = conn.execute(select(_ENTRIES.c.time_us).where(_ENTRIES.c.seq == start - 1)).scalar()
                now = max(now, int(last or 0))
            entries, subjects, nodes, out = [], [], [], []
            for i, (kind, actor, subs, text, digest, payload) in enumerate(prepared):
                seq = start + i
                lh = leaf_hash(entry_leaf_bytes(seq, now, actor, kind, subs, digest))
                nodes.extend({"id": nid, "hash": h} for nid, h in rng.append(lh))
                entries.append(
                    {
                        "seq": seq,
                        "time_us": now,
                        "actor": actor,
                        "kind": kind,
                        "subjects": json.dumps(list(subs), separators=(",", ":")),
                        "payload_hash": digest,
                        "payload": text,
                    }
                )
                subjects.extend({"subject": s, "seq": seq} for s in subs)
                out.append(LogEntry(seq, now, actor, kind, subs, digest, payload, lh))
            for table, rows in ((_ENTRIES, entries), (_SUBJECTS, subjects), (_NODES, nodes)):
                _insert_rows(conn, table, rows)
        return out

    # -- tree ------------------------------------------------------------------------------------------

    def _fetch(self, conn: Connection, ids: list[NodeId]) -> dict[NodeId, bytes]:
        found = {nid: self._node_cache[nid] for nid in ids if nid in self._node_cache}
        missing = [nid for nid in ids if nid not in found]
        if missing:
            rows = conn.execute(select(_NODES.c.id, _NODES.c.hash).where(_NODES.c.id.in_(missing))).all()
            fetched = {int(r[0]): bytes(r[1]) for r in rows}
            # Stored subtree hashes never change once committed, so caching them is safe.
            if len(self._node_cache) > _NODE_CACHE_LIMIT:
                self._node_cache.clear()
            self._node_cache.update(fetched)
            found.update(fetched)
        return found

    def _resolve(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        with self.engine.connect() as conn:
            return resolve_ranges(ranges, lambda ids: self._fetch(conn, ids))

    def size(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one_or_none()
        if value is None:
            raise LogError("the log has no state row: call notarizer.log.create_tables(engine) first")
        return int(value)

    def _check_size(self, size: int | None) -> int:
        # The log only grows, so a size at or below one already seen needs no query.
        if size is not None and 0 <= size <= self._seen_size:
            return size
        current = self.size()
        self._seen_size = max(self._seen_size, current)
        if size is None:
            return current
        if not 0 <= size <= current:
            raise ProofError(f"tree size {size} is outside the log's current size {current}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree of the first `size` entries (default: all)."""
        size = self._check_size(size)
        return self._resolve([(0, size)])[0] if size else EMPTY_ROOT

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The stored leaf hashes of entries [start, end)."""
        ids = [node_id(0, i) for i in range(start, end)]
        with self.engine.connect() as conn:
            rows = (
                dict(
                    conn.execute(
                        select(_NODES.c.id, _NODES.c.hash).where(
                            _NODES.c.id >= ids[0], _NODES.c.id <= ids[-1]
                        )
                    ).all()
                )
                if ids
                else {}
            )
        return [bytes(rows[i]) for i in ids]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of entry `index` in the tree of `size` entries (default: all), bottom-up."""
        return self._resolve(inclusion_ranges(index, self._check_size(size)))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 proof that the tree of `old_size` entries is a prefix of the tree of `new_size`."""
        return self._resolve(consistency_ranges(old_size, self._check_size(new_size)))

    # -- reading entries -------------------------------------------------------------------------------

    @staticmethod
    def _row_to_entry(row: Any, leaf: bytes = b"") -> LogEntry:
        payload = json.loads(row.payload) if row.payload is not None else None
        return LogEntry(
            int(row.seq),
            int(row.time_us),
            row.actor,
            row.kind,
            tuple(json.loads(row.subjects)),
            row.payload_hash,
            payload,
            leaf,
        )

    def entry(self, seq: int) -> LogEntry:
        with self.engine.connect() as conn:
            row = conn.execute(select(_ENTRIES).where(_ENTRIES.c.seq == seq)).first()
            leaf = conn.execute(select(_NODES.c.hash).where(_NODES.c.id == node_id(0, seq))).scalar()
        if row is None:
            raise EntryNotFound(f"no log entry with sequence number {seq}")
        return self._row_to_entry(row, bytes(leaf) if leaf is not None else b"")

    def _filtered(
        self,
        columns: Any,
        actor: str | None,
        kind: str | None,
        subject: str | None,
        since: datetime | int | None,
        until: datetime | int | None,
    ) -> Any:
        q = select(columns)
        if subject is not None:
            q = q.join(_SUBJECTS, _SUBJECTS.c.seq == _ENTRIES.c.seq).where(
                _SUBJECTS.c.subject == _check_subjects([subject])[0]
            )
        if actor is not None:
            q = q.where(_ENTRIES.c.actor == normalize_actor(actor))
        if kind is not None:
            q = q.where(
                _ENTRIES.c.kind.startswith(kind[:-1]) if kind.endswith("*") else _ENTRIES.c.kind == kind
            )
        if (since_us := _to_us(since)) is not None:
            q = q.where(_ENTRIES.c.time_us >= since_us)
        if (until_us := _to_us(until)) is not None:
            q = q.where(_ENTRIES.c.time_us < until_us)
        return q

    def entries(
        self,
        actor: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        offset: int = 0,
        limit: int | None = 100,
    ) -> list[LogEntry]:
        """Entries in sequence order matching every given filter (`kind` may end in '*'; times in µs or
        datetimes, `until` exclusive)."""
        q = (
            self._filtered(_ENTRIES, actor, kind, subject, since, until)
            .order_by(_ENTRIES.c.seq)
            .offset(offset)
        )
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [self._row_to_entry(r) for r in conn.execute(q)]

    def count(
        self,
        actor: str | None = None,
        kind: str | None = None,
        subject: str | None = None,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
    ) -> int:
        q = self._filtered(func.count(), actor, kind, subject, since, until).select_from(_ENTRIES)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def iter_entries(self, start: int = 0, end: int | None = None, batch: int = 5000) -> Iterator[LogEntry]:
        """Every entry in [start, end) in order, with its stored leaf hash (for exports). By default up to
        the highest stored seq: in an honest log that is size(); a tampered table shows all its rows."""
        if end is None:
            with self.engine.connect() as conn:
                end = int(conn.execute(select(func.max(_ENTRIES.c.seq))).scalar() or -1) + 1
        for lo in range(start, end, batch):
            hi = min(lo + batch, end)
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(_ENTRIES).where(_ENTRIES.c.seq >= lo, _ENTRIES.c.seq < hi).order_by(_ENTRIES.c.seq)
                ).all()
                leaves = dict(
                    conn.execute(
                        select(_NODES.c.id, _NODES.c.hash).where(
                            _NODES.c.id >= node_id(0, lo), _NODES.c.id < node_id(0, hi)
                        )
                    ).all()
                )
            for r in rows:
                yield self._row_to_entry(r, bytes(leaves.get(node_id(0, int(r.seq)), b"")))

    def pending_count(self, since_size: int, ignore_kind: str) -> int:
        """Entries at or after `since_size` whose kind is not `ignore_kind` (what is worth anchoring)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_ENTRIES)
                    .where(_ENTRIES.c.seq >= since_size, _ENTRIES.c.kind != ignore_kind)
                ).scalar_one()
            )
