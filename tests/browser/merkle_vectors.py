"""Merkle proof vectors from the reference notarizer/proofs.py, for the browser's JS verifier to match."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from notarizer import proofs
from notarizer.entry import LogEntry, canonical_payload, payload_digest


def _leaf(i: int) -> bytes:
    return proofs.leaf_hash(f"entry-{i}".encode())


def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def make_vectors(max_size: int = 24, extra_sizes: tuple[int, ...] = (64, 100, 257)) -> dict[str, Any]:
    """Inclusion and consistency cases, honest and tampered, each with the reference verdict."""
    biggest = max(max_size, *extra_sizes)
    tree = proofs.MemoryTree(_leaf(i) for i in range(biggest))
    inclusion: list[dict[str, Any]] = []
    consistency: list[dict[str, Any]] = []

    def add_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
        inclusion.append({
            "index": index, "size": size, "leaf": leaf.hex(), "proof": [p.hex() for p in proof],
            "root": root.hex(), "expected": proofs.verify_inclusion(index, size, leaf, proof, root),
        })

    def add_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
        consistency.append({
            "old_size": old, "new_size": new, "old_root": old_root.hex(), "new_root": new_root.hex(),
            "proof": [p.hex() for p in proof],
            "expected": proofs.verify_consistency(old, new, old_root, new_root, proof),
        })

    sizes = [*range(1, max_size + 1), *extra_sizes]
    for size in sizes:
        root = tree.root(size)
        indices = range(size) if size <= max_size else sorted({0, 1, size // 3, size - 2, size - 1})
        for index in indices:
            leaf, proof = tree.leaf(index), tree.inclusion_proof(index, size)
            add_inclusion(index, size, leaf, proof, root)
            add_inclusion(index, size, _flip(leaf), proof, root)
            add_inclusion((index + 1) % size, size, leaf, proof, root)
            add_inclusion(index, size + 1, leaf, proof, root)
            if proof:
                add_inclusion(index, size, leaf, proof[:-1], root)
                add_inclusion(index, size, leaf, [_flip(proof[0]), *proof[1:]], root)
                add_inclusion(index, size, leaf, [*proof, hashlib.sha256(b"x").digest()], root)
    for new in sizes:
        olds = range(0, new + 1) if new <= max_size else sorted({0, 1, 7, 8, new // 2, new - 1, new})
        for old in olds:
            old_root, new_root = tree.root(old), tree.root(new)
            proof = tree.consistency_proof(old, new)
            add_consistency(old, new, old_root, new_root, proof)
            add_consistency(old, new, _flip(old_root), new_root, proof)
            add_consistency(old, new, old_root, _flip(new_root), proof)
            if proof:
                add_consistency(old, new, old_root, new_root, proof[1:])
                add_consistency(old, new, old_root, new_root, [*proof[:-1], _flip(proof[-1])])
            if old > 1:
                add_consistency(old - 1, new, old_root, new_root, proof)
    leaf_cases = [{"data": d.hex(), "leaf": proofs.leaf_hash(d).hex()} for d in (b"", b"a", b"\x00" * 70)]
    node_cases = [{"left": _leaf(1).hex(), "right": _leaf(2).hex(),
                   "node": proofs.node_hash(_leaf(1), _leaf(2)).hex()}]
    return {"inclusion": inclusion, "consistency": consistency, "leaf_hash": leaf_cases,
            "node_hash": node_cases}


# Payloads whose canonical JSON is easy to get wrong: floats Python spells its own way, integers past 2**53,
# escapes, non-ASCII text, and keys whose code-point order differs from their UTF-16 order.
TRICKY_PAYLOADS: list[Any] = [
    {"b": 1, "a": [1, 2.5, -0.0, 1e-07, 1e16, 123456789.125, 2**70, -(2**63)]},
    {"text": 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f', "ls": "\u2028\u2029"},
    {"é": "中文", "\uffff": "bmp", "😀": "astral", "z": None, "t": True, "f": False,
     "nested": {"y": {}, "x": []}},
    [],
    "a bare string",
    0.1,
]


def make_entry_vectors() -> dict[str, Any]:
    """Server-spelled JSON (as Starlette's JSONResponse writes it) with the canonical text and leaf hashes
    notarizer/entry.py computes from it."""

    def served(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    payloads = [{"served": served(p), "canonical": canonical_payload(p).decode()} for p in TRICKY_PAYLOADS]
    entries = []
    for seq, payload in enumerate(TRICKY_PAYLOADS):
        entry = LogEntry(seq=seq, time_us=1_795_000_000_123_456 + seq, actor="0x" + "ab" * 20,
                         kind="job.requested", subjects=("job:7", "dataset:3"),
                         payload_hash=payload_digest(payload), payload=payload)
        entries.append({"served": served(entry.to_json()), "leaf": entry.computed_leaf_hash().hex()})
    return {"payloads": payloads, "entries": entries}
