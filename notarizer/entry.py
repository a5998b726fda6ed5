"""Log entries: their kinds, the canonical JSON encoding, and the leaf bytes the Merkle tree hashes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from dx_core.canonical import canonical_json
from notarizer.proofs import leaf_hash

SYSTEM_ACTOR = "system"


class Kind(StrEnum):
    """The kinds of log entries; the families job.*, listing.* and member.* are open to new names."""

    API_REQUEST = "api.request"
    APPROVAL_SIGNATURE = "approval.signature"
    LISTING_CREATED = "listing.created"
    LISTING_UPDATED = "listing.updated"
    LISTING_WITHDRAWN = "listing.withdrawn"
    JOB_REQUESTED = "job.requested"
    JOB_AUTHORIZED = "job.authorized"
    JOB_ATTESTED = "job.attested"
    JOB_COMPLETED = "job.completed"
    JOB_SETTLED = "job.settled"
    JOB_REFUNDED = "job.refunded"
    JOB_DISPUTED = "job.disputed"
    JOB_DECLINED = "job.declined"
    JOB_REFUSED = "job.refused"
    MANIFEST_COMMITTED = "manifest.committed"
    NODE_ATTESTATION = "node.attestation"
    NODE_DESTRUCTION = "node.destruction"
    RESULT_SHARE = "result.share"
    MEMBER_ADMITTED = "member.admitted"
    MEMBER_UPDATED = "member.updated"
    MEMBER_REMOVED = "member.removed"
    CHECKPOINT_ANCHORED = "checkpoint.anchored"


OPEN_FAMILIES = ("listing.", "job.", "member.")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_KNOWN = {k.value for k in Kind}


class InvalidEntry(ValueError):
    """An entry that cannot be logged (unknown kind, payload not JSON, malformed hash)."""


def canonical_payload(payload: Any) -> bytes:
    """The canonical JSON (dx_core.canonical) of a payload; InvalidEntry if JSON cannot hold it."""
    try:
        return canonical_json(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidEntry(f"payload is not canonical-JSON serializable: {exc}") from exc


def payload_digest(payload: Any) -> str:
    """Hex SHA-256 of the canonical JSON of a payload: what an entry commits to."""
    return hashlib.sha256(canonical_payload(payload)).hexdigest()


def check_kind(kind: str) -> str:
    kind = str(kind)
    if kind in _KNOWN or (_KIND_RE.match(kind) and kind.startswith(OPEN_FAMILIES)):
        return kind
    raise InvalidEntry(
        f"unknown entry kind {kind!r}: use a notarizer.entry.Kind or a job./listing./member. kind"
    )


def normalize_actor(actor: str) -> str:
    """Addresses are logged in lower case so that filters and the hashed leaf agree on one spelling."""
    if not actor:
        raise InvalidEntry("an entry needs an actor (an address or 'system')")
    return actor.lower() if _ADDRESS_RE.match(actor) else actor


def check_payload_hash(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value or ""):
        raise InvalidEntry(f"payload_hash must be 64 lower-case hex digits, got {value!r}")
    return value


def entry_leaf_bytes(
    seq: int, time_us: int, actor: str, kind: str, subjects: list[str] | tuple[str, ...], payload_hash: str
) -> bytes:
    """The bytes hashed into leaf `seq`: the canonical JSON object
    {"actor", "kind", "payload_hash" (hex), "seq", "subjects" (list, as logged), "time" (µs since epoch)}.
    The payload itself is outside the leaf (it may be withheld); its hash is inside.
    """
    return canonical_json(
        {
            "actor": actor,
            "kind": kind,
            "payload_hash": payload_hash,
            "seq": seq,
            "subjects": list(subjects),
            "time": time_us,
        }
    )


def chain_event_ref(tx_hash: str | bytes, log_index: int, event: str) -> dict[str, Any]:
    """How a payload points at the chain event an entry records: put this under the key "chain_event"."""
    tx = tx_hash.hex() if isinstance(tx_hash, bytes) else str(tx_hash)
    tx = tx.lower()
    if not tx.startswith("0x"):
        tx = "0x" + tx
    return {"event": event, "log_index": int(log_index), "tx_hash": tx}


@dataclass(frozen=True)
class LogEntry:
    """One entry of the transparency log. `seq` is also its leaf index."""

    seq: int
    time_us: int
    actor: str
    kind: str
    subjects: tuple[str, ...]
    payload_hash: str
    payload: Any = None
    leaf_hash: bytes = field(default=b"", compare=False)

    @property
    def time(self) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.time_us)  # exact

    def leaf_bytes(self) -> bytes:
        return entry_leaf_bytes(
            self.seq, self.time_us, self.actor, self.kind, self.subjects, self.payload_hash
        )

    def computed_leaf_hash(self) -> bytes:
        return leaf_hash(self.leaf_bytes())

    def to_json(self) -> dict[str, Any]:
        """The export form of an entry (one JSON line of an exported log)."""
        return {
            "seq": self.seq,
            "time": self.time_us,
            "time_iso": self.time.isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "subjects": list(self.subjects),
            "payload_hash": self.payload_hash,
            "payload": self.payload,
            "leaf_hash": (self.leaf_hash or self.computed_leaf_hash()).hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogEntry:
        """Parse an exported entry; `leaf_hash`, if present, is the hash the log recorded for it."""
        try:
            return cls(
                seq=int(data["seq"]),
                time_us=int(data["time"]),
                actor=str(data["actor"]),
                kind=str(data["kind"]),
                subjects=tuple(data["subjects"]),
                payload_hash=str(data["payload_hash"]),
                payload=data.get("payload"),
                leaf_hash=bytes.fromhex(data["leaf_hash"]) if data.get("leaf_hash") else b"",
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidEntry(f"malformed exported entry {str(data)[:200]}: {exc!r}") from exc
