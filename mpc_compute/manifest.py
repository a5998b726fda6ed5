"""Share manifests: the canonical JSON document that lists a listing's sealed shares and commits to them.

A manifest is stored as a blob. Its bytes are canonical JSON (`dx_core.canonical`: sorted keys, no
spaces, UTF-8), so the on-chain commitment (the Market listing's manifestHash, bytes32) is
sha256(manifest bytes) and its CID is `dx_core.cid.cid_from_digest(manifestHash)`: a node fetches it
knowing only the chain value.

Fields (version 1):
- `kind`: "dataset" or "model" (an algorithm provider's secret parameters).
- `label`: a random hex nonce chosen by the client before listing. Every sealed bundle's envelope
  context binds it (`envelope.share_context(kind, label, node)`), because the listing id does not
  exist until the listing transaction that commits to this manifest.
- `schema`: the declared columns (name, dtype, role: id / feature / label; "param" for models).
- `rows`: row count (0 for models), `chunk_rows`: rows per sealed chunk.
- `spu_config_hash`: hex sha256 of the SPU runtime config the shares were made for.
- `arrays`: the shared arrays, each `name`, `dtype`, `shape` (public), `columns` (which schema columns).
- `nodes`: for node i = 0, 1, 2: `public_key` (hex X25519 the bundles are sealed to) and, per array,
  the list of chunks in row order: `cid` of the sealed bundle, `share_sha256` of the plaintext
  serialized share inside it, `rows` of that chunk.
- `public_params` (models only, omitted when empty): the public parameters the model listing fixes for
  every job that uses it (e.g. secret_model_score's link, scale, offset); the buyer cannot choose them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from dx_core.canonical import canonical_json
from dx_core.cid import InvalidCID, cid_from_digest, digest_from_cid

MANIFEST_VERSION = 1
KINDS = ("dataset", "model")
ROLES = ("id", "feature", "label", "param")
DTYPES = ("int64", "float64", "text", "bool")
WORLD_SIZE = 3


class ManifestError(ValueError):
    """A manifest document that is malformed or does not fit its commitment."""


def digest_mismatch(data: bytes, expected_digest: bytes | None) -> str | None:
    """The hex sha256 of `data` when it differs from `expected_digest`; None when it matches or none is
    expected. Shared by every document that is fetched by its committed hash (manifests, job specs)."""
    if expected_digest is None:
        return None
    actual = hashlib.sha256(data).digest()
    return None if actual == expected_digest else actual.hex()


class CanonicalDocument:
    """A document committed on-chain by the sha256 of its canonical JSON (manifests, job specs): the
    subclass says what its JSON is (`to_dict`), this says how it is encoded, hashed and addressed."""

    def to_dict(self) -> dict:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    def digest(self) -> bytes:
        """sha256 of the canonical bytes: the on-chain commitment (manifestHash, a job's paramsHash)."""
        return hashlib.sha256(self.to_bytes()).digest()

    def cid(self) -> str:
        return cid_from_digest(self.digest())


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    role: str = "feature"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ManifestError(f"column {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")
        if self.role not in ROLES:
            raise ManifestError(f"column {self.name!r}: role {self.role!r} is not one of {ROLES}")


@dataclass(frozen=True)
class ArraySpec:
    name: str
    dtype: str
    shape: tuple[int, ...]
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChunkRef:
    cid: str
    share_sha256: str
    rows: int


@dataclass(frozen=True)
class NodeShares:
    index: int
    public_key: str
    arrays: dict[str, list[ChunkRef]] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest(CanonicalDocument):
    kind: str
    label: str
    columns: tuple[Column, ...]
    rows: int
    chunk_rows: int
    spu_config_hash: str
    arrays: tuple[ArraySpec, ...]
    nodes: tuple[NodeShares, ...]
    version: int = MANIFEST_VERSION
    public_params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        doc = {
            "version": self.version,
            "kind": self.kind,
            "label": self.label,
            "schema": {"columns": [{"name": c.name, "dtype": c.dtype, "role": c.role} for c in self.columns]},
            "rows": self.rows,
            "chunk_rows": self.chunk_rows,
            "spu_config_hash": self.spu_config_hash,
            "arrays": [
                {"name": a.name, "dtype": a.dtype, "shape": list(a.shape), "columns": list(a.columns)}
                for a in self.arrays
            ],
            "nodes": [
                {
                    "index": n.index,
                    "public_key": n.public_key,
                    "arrays": {
                        name: [{"cid": c.cid, "share_sha256": c.share_sha256, "rows": c.rows} for c in chunks]
                        for name, chunks in n.arrays.items()
                    },
                }
                for n in self.nodes
            ],
        }
        if self.public_params:
            doc["public_params"] = self.public_params
        return doc

    def array(self, name: str) -> ArraySpec:
        for a in self.arrays:
            if a.name == name:
                return a
        raise ManifestError(f"manifest has no array {name!r} (it has {[a.name for a in self.arrays]})")

    def node(self, index: int) -> NodeShares:
        for n in self.nodes:
            if n.index == index:
                return n
        raise ManifestError(f"manifest has no shares for node {index}")

    def blob_cids(self) -> list[str]:
        return [c.cid for n in self.nodes for chunks in n.arrays.values() for c in chunks]

    @classmethod
    def from_dict(cls, doc: dict) -> Manifest:
        try:
            if doc["version"] != MANIFEST_VERSION:
                raise ManifestError(f"unsupported manifest version {doc['version']!r}")
            m = cls(
                kind=doc["kind"],
                label=doc["label"],
                columns=tuple(Column(**c) for c in doc["schema"]["columns"]),
                rows=int(doc["rows"]),
                chunk_rows=int(doc["chunk_rows"]),
                spu_config_hash=doc["spu_config_hash"],
                arrays=tuple(
                    ArraySpec(a["name"], a["dtype"], tuple(a["shape"]), tuple(a["columns"]))
                    for a in doc["arrays"]
                ),
                nodes=tuple(
                    NodeShares(
                        n["index"],
                        n["public_key"],
                        {
                            k: [ChunkRef(c["cid"], c["share_sha256"], int(c["rows"])) for c in v]
                            for k, v in n["arrays"].items()
                        },
                    )
                    for n in doc["nodes"]
                ),
                public_params=dict(doc.get("public_params") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise ManifestError(f"manifest is missing or mistypes field {exc}") from None
        m.validate()
        return m

    @classmethod
    def from_bytes(cls, data: bytes, expected_digest: bytes | None = None) -> Manifest:
        """Parse manifest bytes; with `expected_digest`, refuse bytes that do not hash to it."""
        if (actual := digest_mismatch(data, expected_digest)) is not None:
            raise ManifestError(f"manifest bytes hash to {actual}, the commitment is {expected_digest.hex()}")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"manifest is not JSON: {exc}") from None
        m = cls.from_dict(doc)
        if m.to_bytes() != data:
            raise ManifestError("manifest bytes are not in canonical form (sorted keys, no spaces)")
        return m

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ManifestError(f"manifest kind {self.kind!r} is not one of {KINDS}")
        if self.public_params and self.kind != "model":
            raise ManifestError("only a model manifest fixes public parameters")
        if sorted(n.index for n in self.nodes) != list(range(WORLD_SIZE)):
            raise ManifestError(f"manifest must list shares for nodes 0..{WORLD_SIZE - 1}")
        names = [a.name for a in self.arrays]
        for n in self.nodes:
            if sorted(n.arrays) != sorted(names):
                raise ManifestError(
                    f"node {n.index} lists arrays {sorted(n.arrays)}, manifest has {sorted(names)}"
                )
            for name, chunks in n.arrays.items():
                lead = self.array(name).shape[0] if self.array(name).shape else 1
                if self.array(name).shape and sum(c.rows for c in chunks) != lead:
                    raise ManifestError(f"node {n.index} array {name!r}: chunk rows do not add up to {lead}")
                for c in chunks:
                    try:
                        digest_from_cid(c.cid)
                    except InvalidCID as exc:
                        raise ManifestError(f"node {n.index} array {name!r}: {exc}") from None
                    if len(c.share_sha256) != 64:
                        raise ManifestError(
                            f"node {n.index} array {name!r}: share_sha256 is not 32 hex bytes"
                        )
