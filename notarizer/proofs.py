"""RFC 6962 / RFC 9162 Merkle tree hashing, proof shapes and pure proof verification (no database)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A perfect subtree [idx * 2**level, (idx + 1) * 2**level) is named by one integer: level in the high bits.
_LEVEL_SHIFT = 48
NodeId = int


class ProofError(ValueError):
    """A proof was requested for sizes or indices that do not describe one tree."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def node_id(level: int, idx: int) -> NodeId:
    """The storage key of the perfect subtree at `level` (0 = leaves) and position `idx` on that level."""
    return (level << _LEVEL_SHIFT) | idx


def split_node_id(nid: NodeId) -> tuple[int, int]:
    return nid >> _LEVEL_SHIFT, nid & ((1 << _LEVEL_SHIFT) - 1)


def _split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): where RFC 6962 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_pieces(start: int, end: int) -> list[NodeId]:
    """The perfect subtrees, largest first, whose right fold is the RFC 6962 hash of leaves [start, end).

    Valid for every range that is a node of an RFC 6962 tree (start is a multiple of the largest power
    of two not exceeding end - start), which is every range the proofs below ask for.
    """
    pieces: list[NodeId] = []
    pos, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        pieces.append(node_id(level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return pieces


def fold_pieces(hashes: Sequence[bytes]) -> bytes:
    """Right fold of perfect-subtree hashes (largest first) into the hash of their union."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the audit path of leaf `index` in a tree of `size`, bottom-up."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    out: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split_point(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the RFC 6962 consistency proof from `old_size` to `new_size`."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to the smaller size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    out: list[tuple[int, int]] = []
    m, start, end, complete = old_size, 0, new_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                out.append((start, end))
            break
        k = _split_point(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            m -= k
            start += k
            complete = False
    out.reverse()
    return out


def resolve_ranges(
    ranges: Iterable[tuple[int, int]], fetch: Callable[[list[NodeId]], Mapping[NodeId, bytes]]
) -> list[bytes]:
    """Hash each range from stored perfect subtrees, asking `fetch` once for every node needed."""
    ranges = list(ranges)
    per_range = [perfect_pieces(a, b) for a, b in ranges]
    wanted = sorted({nid for pieces in per_range for nid in pieces})
    found = fetch(wanted) if wanted else {}
    missing = [split_node_id(nid) for nid in wanted if nid not in found]
    if missing:
        raise ProofError(f"tree nodes (level, index) {missing[:5]} are missing from storage")
    return [fold_pieces([found[nid] for nid in pieces]) for pieces in per_range]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does `proof` show leaf hash `leaf` at `index` in the tree (size, root)?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: does `proof` show (old_size, old_root) prefixes (new_size, new_root)?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # The empty tree is a prefix of every tree; RFC 9162 defines no proof for it.
        return not proof and old_root == EMPTY_ROOT
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class CompactRange:
    """The right edge of a growing tree: the perfect subtrees of its size's binary decomposition.

    Appending a leaf costs O(1) amortized and reports every perfect subtree it completes, which is what
    the log stores; `root()` folds at most log2(size) hashes.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        levels = [lvl for lvl in range(size.bit_length() - 1, -1, -1) if size >> lvl & 1]
        if len(levels) != len(hashes):
            raise ProofError(f"a compact range of size {size} needs {len(levels)} hashes, got {len(hashes)}")
        self.size = size
        self._stack: list[tuple[int, bytes]] = list(zip(levels, hashes, strict=True))

    @staticmethod
    def piece_ids(size: int) -> list[NodeId]:
        """Storage keys of the hashes a CompactRange of `size` is built from, largest first."""
        return perfect_pieces(0, size)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Add one leaf hash; return the (node id, hash) of every perfect subtree it completes, leaf first."""
        index = self.size
        made = [(node_id(0, index), leaf)]
        self._stack.append((0, leaf))
        while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
            level, right = self._stack.pop()
            _, left = self._stack.pop()
            merged = node_hash(left, right)
            self._stack.append((level + 1, merged))
            made.append((node_id(level + 1, index >> (level + 1)), merged))
        self.size += 1
        return made

    def root(self) -> bytes:
        return fold_pieces([h for _, h in self._stack])


class MemoryTree:
    """A whole tree held in memory (the verifier's copy): roots and proofs for any earlier size."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._nodes: dict[NodeId, bytes] = {}
        self._range = CompactRange()
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._range.size

    def append(self, leaf: bytes) -> None:
        self._nodes.update(self._range.append(leaf))

    def _fetch(self, ids: list[NodeId]) -> dict[NodeId, bytes]:
        return {nid: self._nodes[nid] for nid in ids if nid in self._nodes}

    def leaf(self, index: int) -> bytes:
        return self._nodes[node_id(0, index)]

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"no root for size {size}: the tree has {self.size} leaves")
        return resolve_ranges([(0, size)], self._fetch)[0] if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if size > self.size:
            raise ProofError(f"no proof in a tree of size {size}: the tree has {self.size} leaves")
        return resolve_ranges(inclusion_ranges(index, size), self._fetch)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise ProofError(f"no proof to size {new_size}: the tree has {self.size} leaves")
        return resolve_ranges(consistency_ranges(old_size, new_size), self._fetch)
