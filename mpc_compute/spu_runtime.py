"""SPU glue: the cluster's runtime config, and serialized secret shares (make, join, check, reconstruct)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import spu
from spu import libspu

WORLD_SIZE = 3
DEFAULT_FIELD = "FM64"
DEFAULT_FXP_BITS = 18

# Framing of one serialized share: MAGIC, u32 meta length, meta (SPU ValueMeta protobuf), u32 chunk count,
# then per chunk a u64 length and the chunk (SPU ValueChunk protobuf). Self-describing, so a node can
# check and join shares without SPU's Python objects, and SPU-version independent at the framing level.
MAGIC = b"DXSHARE1"
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class ShareFormatError(ValueError):
    """A serialized share is truncated, has a wrong magic, or does not fit its metadata."""


class ShareMismatchError(ValueError):
    """Shares that should belong together (one value, or row blocks of one array) do not."""


def runtime_config(field: str = DEFAULT_FIELD, fxp_bits: int = DEFAULT_FXP_BITS) -> libspu.RuntimeConfig:
    """The cluster's SPU config: ABY3 over three parties, `field` ring, `fxp_bits` fraction bits."""
    if field not in ("FM32", "FM64", "FM128"):
        raise ValueError(f"unknown SPU field {field!r}: use FM32, FM64 or FM128")
    field_type = getattr(libspu.FieldType, field)
    config = libspu.RuntimeConfig(
        protocol=libspu.ProtocolKind.ABY3, field=field_type, fxp_fraction_bits=int(fxp_bits)
    )
    # Shuffle-then-quicksort: ~10x faster than the default radix sort on 64-bit keys here; secure for
    # distinct keys, which the ID programs guarantee (see algorithms/oblivious.py). Shares do not
    # depend on it, but the config hash does, so it is fixed for the whole cluster.
    config.sort_method = libspu.RuntimeConfig.SortMethod.SORT_QUICK
    # Pade exp: 9e-5 absolute on x <= 0 against 1.2e-3 for the default Taylor series, which put the
    # logistic 1e-3 off the exact value (algorithms/fixed_point.py measures and bounds both). The
    # logistic lowering is pinned to the exact formula 1 / (1 + exp(-x)), never a piecewise line.
    config.fxp_exp_mode = libspu.RuntimeConfig.ExpMode.EXP_PADE
    config.sigmoid_mode = libspu.RuntimeConfig.SigmoidMode.SIGMOID_REAL
    return config


def config_bytes(config: libspu.RuntimeConfig | None = None) -> bytes:
    """The config's protobuf serialization (deterministic: no map fields, one SPU version)."""
    return (config or runtime_config()).SerializeToString()


def config_from_bytes(data: bytes) -> libspu.RuntimeConfig:
    config = libspu.RuntimeConfig()
    if not config.ParseFromString(data):
        raise ValueError("bytes do not parse as an SPU RuntimeConfig")
    return config


def config_hash(config: libspu.RuntimeConfig | None = None) -> bytes:
    """sha256 over the serialized runtime config: what the Registry commits for the cluster."""
    return hashlib.sha256(config_bytes(config)).digest()


@dataclass(frozen=True)
class ParsedShare:
    """One party's share, split into SPU's metadata and its chunk protobufs."""

    meta: bytes
    chunks: tuple[bytes, ...]

    def value_meta(self) -> libspu.ValueMeta:
        meta = libspu.ValueMeta()
        if not meta.ParseFromString(self.meta):
            raise ShareFormatError("share metadata does not parse as an SPU ValueMeta")
        return meta

    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.value_meta().shape.dims)

    def content(self) -> bytes:
        """The share's raw payload, its chunks put in offset order."""
        parts: list[tuple[int, bytes]] = []
        total = None
        for raw in self.chunks:
            chunk = libspu.ValueChunk()
            if not chunk.ParseFromString(raw):
                raise ShareFormatError("share chunk does not parse as an SPU ValueChunk")
            total = chunk.total_bytes if total is None else total
            if chunk.total_bytes != total:
                raise ShareFormatError("share chunks disagree on the total size")
            parts.append((chunk.chunk_offset, chunk.content))
        parts.sort(key=lambda p: p[0])
        data = b"".join(p[1] for p in parts)
        if total is not None and len(data) != total:
            raise ShareFormatError(f"share chunks hold {len(data)} bytes, metadata says {total}")
        return data

    def to_spu(self) -> libspu.Share:
        share = libspu.Share()
        share.meta = self.meta
        share.share_chunks = list(self.chunks)
        return share


def serialize_share(share: libspu.Share | ParsedShare) -> bytes:
    meta = share.meta
    chunks = share.chunks if isinstance(share, ParsedShare) else share.share_chunks
    out = [MAGIC, _U32.pack(len(meta)), meta, _U32.pack(len(chunks))]
    for chunk in chunks:
        out += [_U64.pack(len(chunk)), chunk]
    return b"".join(out)


def parse_share(data: bytes) -> ParsedShare:
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise ShareFormatError("not a serialized share (bad magic)")
    pos = len(MAGIC)

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(view):
            raise ShareFormatError(f"serialized share truncated at byte {pos} (needs {n} more)")
        piece = bytes(view[pos : pos + n])
        pos += n
        return piece

    (meta_len,) = _U32.unpack(take(4))
    meta = take(meta_len)
    (count,) = _U32.unpack(take(4))
    chunks = []
    for _ in range(count):
        (length,) = _U64.unpack(take(8))
        chunks.append(take(length))
    if pos != len(view):
        raise ShareFormatError(f"{len(view) - pos} trailing bytes after the serialized share")
    return ParsedShare(meta, tuple(chunks))


def deserialize_share(data: bytes) -> libspu.Share:
    return parse_share(data).to_spu()


def program_digest(executable: bytes, config: bytes) -> bytes:
    """The program hash: sha256 over a domain tag, the runtime config and the serialized SPU executable."""
    h = hashlib.sha256(b"dx-spu-program/1\0")
    h.update(len(config).to_bytes(8, "big") + config)
    h.update(executable)
    return h.digest()


def share_digest(share: bytes) -> bytes:
    """sha256 of a serialized share: what manifests and attestations commit to."""
    return hashlib.sha256(share).digest()


def _io(config: libspu.RuntimeConfig | None) -> spu.Io:
    return spu.Io(WORLD_SIZE, config or runtime_config())


def make_shares(array: np.ndarray, config: libspu.RuntimeConfig | None = None) -> list[bytes]:
    """Secret-share `array` for the three parties: one serialized share per rank."""
    arr = np.ascontiguousarray(array)
    shares = _io(config).make_shares(arr, libspu.Visibility.VIS_SECRET)
    return [serialize_share(s) for s in shares]


def reconstruct(shares: list[bytes], config: libspu.RuntimeConfig | None = None) -> np.ndarray:
    """Open a value from its three serialized shares (unchecked: see check_replicated_consistency)."""
    if len(shares) != WORLD_SIZE:
        raise ShareMismatchError(f"need {WORLD_SIZE} shares to reconstruct, got {len(shares)}")
    return _io(config).reconstruct([deserialize_share(s) for s in shares])


# ABY3 replicated sharing: x = c0 + c1 + c2 (or XOR for boolean shares); party i holds the pair (c_i,
# c_{i+1}) stored element-interleaved [e0.c_i, e0.c_{i+1}, e1.c_i, ...], each component one ring word.
# So every component is held by two parties: c_{i+1} by party i (second slot) and party i+1 (first slot).


def _components(parsed: ParsedShare) -> np.ndarray:
    """The share as an array (elements, 2, word_bytes) of its two replicated components."""
    numel = int(np.prod(parsed.shape(), dtype=np.int64))
    content = parsed.content()
    if numel == 0:
        return np.zeros((0, 2, 1), dtype=np.uint8)
    if len(content) % (2 * numel):
        raise ShareFormatError(f"share payload of {len(content)} bytes does not hold 2 x {numel} words")
    return np.frombuffer(content, dtype=np.uint8).reshape(numel, 2, len(content) // (2 * numel))


def _pair_agrees(a: np.ndarray, b: np.ndarray) -> bool:
    """Does party a's second component equal party b's first (b = a + 1)?"""
    return a.shape == b.shape and bool(np.array_equal(a[:, 1, :], b[:, 0, :]))


def check_replicated_consistency(shares: list[bytes]) -> list[int]:
    """Ranks whose share disagrees with the others' copies of the replicated components.

    Each component is held twice, so each neighbour pair (i, i+1) either agrees on c_{i+1} or not.
    A rank that disagrees with both neighbours is named alone. If only one pair disagrees, either end
    could have changed that one component, so both ranks are returned. Empty list: consistent.
    """
    if len(shares) != WORLD_SIZE:
        raise ShareMismatchError(f"need {WORLD_SIZE} shares, got {len(shares)}")
    parsed = [parse_share(s) for s in shares]
    metas = [p.meta for p in parsed]
    public = [_is_public(p) for p in parsed]
    if len(set(public)) > 1:
        majority = max(set(public), key=public.count)
        return [r for r, flag in enumerate(public) if flag != majority]
    if public[0]:
        # a value derived only from public shapes comes out public: every party holds the same bytes
        return _odd_ones_out([serialize_share(p) for p in parsed])
    comps = []
    for p in parsed:
        try:
            comps.append(_components(p))
        except ShareFormatError:
            comps.append(None)
    bad_edges = []
    for i in range(WORLD_SIZE):
        j = (i + 1) % WORLD_SIZE
        a, b = comps[i], comps[j]
        if a is None or b is None or metas[i] != metas[j] or not _pair_agrees(a, b):
            bad_edges.append((i, j))
    if not bad_edges:
        return []
    counts = {r: sum(r in e for e in bad_edges) for r in range(WORLD_SIZE)}
    if len(bad_edges) == 2:
        return [r for r, c in counts.items() if c == 2]
    return sorted({r for e in bad_edges for r in e})


def _is_public(parsed: ParsedShare) -> bool:
    try:
        return parsed.value_meta().visibility == libspu.Visibility.VIS_PUBLIC
    except ShareFormatError:
        return False


def _odd_ones_out(values: list[bytes]) -> list[int]:
    for candidate in values:
        agreeing = [r for r, v in enumerate(values) if v == candidate]
        if len(agreeing) >= 2:
            return [r for r in range(len(values)) if r not in agreeing]
    return list(range(len(values)))


def reconstruct_without(
    shares: list[bytes | None], excluded: int, config: libspu.RuntimeConfig | None = None
) -> np.ndarray:
    """Open a value from the two shares other than `excluded` (ABY3: any two parties hold all components)."""
    k = excluded % WORLD_SIZE
    nxt, prv = parse_share(shares[(k + 1) % WORLD_SIZE]), parse_share(shares[(k + 2) % WORLD_SIZE])
    if nxt.meta != prv.meta:
        raise ShareMismatchError("the two remaining shares have different metadata")
    a, b = _components(nxt), _components(prv)
    # party k held (c_k, c_{k+1}): c_k is the second slot of party k-1, c_{k+1} the first slot of k+1.
    rebuilt = np.stack([b[:, 1, :], a[:, 0, :]], axis=1)
    chunk = libspu.ValueChunk()
    chunk.total_bytes = rebuilt.nbytes
    chunk.chunk_offset = 0
    chunk.content = rebuilt.tobytes()
    filled = list(shares)
    filled[k] = serialize_share(ParsedShare(nxt.meta, (chunk.SerializeToString(),)))
    return reconstruct(filled, config)


# Row-block sharing: a (rows, cols) array is shared block by block; since additive/replicated sharing is
# element-wise and SPU stores elements row-major, a party's block shares concatenated in order are a valid
# share of the whole array. The input client streams blocks with bounded memory; the node joins them
# with join_row_blocks before set_var, so programs always see one input per provider.


def iter_row_block_shares(
    blocks: Iterable[np.ndarray], config: libspu.RuntimeConfig | None = None
) -> Iterator[list[bytes]]:
    """For each row block of an array, its three serialized shares (same order as the blocks)."""
    io = _io(config)
    for block in blocks:
        shares = io.make_shares(np.ascontiguousarray(block), libspu.Visibility.VIS_SECRET)
        yield [serialize_share(s) for s in shares]


def row_blocks(array: np.ndarray, rows_per_block: int) -> Iterator[np.ndarray]:
    for start in range(0, max(len(array), 1), rows_per_block):
        yield array[start : start + rows_per_block]


def join_row_blocks(block_shares: Iterable[bytes]) -> bytes:
    """One party's share of the whole array from its shares of consecutive row blocks."""
    meta_ref: libspu.ValueMeta | None = None
    rows = 0
    payloads: list[bytes] = []
    for raw in block_shares:
        parsed = parse_share(raw)
        meta = parsed.value_meta()
        dims = [int(d) for d in meta.shape.dims]
        if not dims:
            raise ShareMismatchError("a scalar share cannot be joined by rows")
        if meta_ref is None:
            meta_ref, tail = meta, dims[1:]
        elif (
            dims[1:] != tail
            or meta.data_type != meta_ref.data_type
            or meta.storage_type != meta_ref.storage_type
            or meta.visibility != meta_ref.visibility
        ):
            raise ShareMismatchError(f"row block of shape {dims} does not match the first block")
        rows += dims[0]
        payloads.append(parsed.content())
    if meta_ref is None:
        raise ShareMismatchError("no row blocks to join")
    meta_ref.shape.dims = [rows, *tail]
    total = sum(len(p) for p in payloads)
    chunks, offset = [], 0
    for payload in payloads:
        chunk = libspu.ValueChunk()
        chunk.total_bytes, chunk.chunk_offset, chunk.content = total, offset, payload
        chunks.append(chunk.SerializeToString())
        offset += len(payload)
    return serialize_share(ParsedShare(meta_ref.SerializeToString(), tuple(chunks)))
