"""Job specs: the canonical JSON document naming what a compute job runs, on which shares, for whom.

Stored as a blob; the on-chain job's public-parameter hash is sha256(spec bytes), so its CID is
`cid_from_digest(paramsHash)` and a node fetches the spec from the chain value alone. Fields (v1):
- `algorithm`: {"name", "version"} of a library algorithm (mpc_compute.algorithms).
- `params`: the algorithm's public parameters (JSON).
- `inputs`: in program order, each {"name": program input name (e.g. "data_0"), "kind": "dataset" |
  "model", "listing_id": on-chain listing id (0 when no chain), "manifest_hash": hex sha256 of the
  listing's manifest, "array": the manifest array, "columns": list of column names or null = all}.
- `outputs`: the output names the receiver expects (must equal the program's).
- `receiver`: {"address": result receiver, "x25519_public": hex key output shares are sealed to}.
  With a chain, the node seals to the key the job records on-chain and refuses a spec that differs.

`program_hash_for(spec, manifests)` compiles the algorithm from public shapes only (the manifests'
array shapes after column selection) and returns the program hash: the buyer's client computes it
when requesting the job, every node recomputes it and compares with the job's programHash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from mpc_compute.manifest import CanonicalDocument, Manifest, digest_mismatch

# The algorithm library (jax, spu) is imported inside compile_for: it takes seconds to load, and reading
# or writing a spec does not need it.

SPEC_VERSION = 1


class JobSpecError(ValueError):
    """A job spec that is malformed, or that does not fit the manifests it names."""


@dataclass(frozen=True)
class JobInput:
    name: str
    kind: str
    listing_id: int
    manifest_hash: str
    array: str
    columns: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "listing_id": self.listing_id,
            "manifest_hash": self.manifest_hash,
            "array": self.array,
            "columns": None if self.columns is None else list(self.columns),
        }


@dataclass(frozen=True)
class JobSpec(CanonicalDocument):
    algorithm: str
    algorithm_version: str
    inputs: tuple[JobInput, ...]
    outputs: tuple[str, ...]
    receiver_address: str
    receiver_key: str
    params: dict[str, Any] = field(default_factory=dict)
    version: int = SPEC_VERSION

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "algorithm": {"name": self.algorithm, "version": self.algorithm_version},
            "params": self.params,
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": list(self.outputs),
            "receiver": {"address": self.receiver_address, "x25519_public": self.receiver_key},
        }

    def manifest_hashes(self) -> list[bytes]:
        return [bytes.fromhex(i.manifest_hash) for i in self.inputs]

    @classmethod
    def from_bytes(cls, data: bytes, expected_digest: bytes | None = None) -> JobSpec:
        """Parse spec bytes; with `expected_digest`, refuse bytes that do not hash to it."""
        if (actual := digest_mismatch(data, expected_digest)) is not None:
            raise JobSpecError(f"job spec hashes to {actual}, the job commits to {expected_digest.hex()}")
        try:
            doc = json.loads(data)
            if doc["version"] != SPEC_VERSION:
                raise JobSpecError(f"unsupported job spec version {doc['version']!r}")
            spec = cls(
                algorithm=doc["algorithm"]["name"],
                algorithm_version=doc["algorithm"]["version"],
                params=doc["params"],
                inputs=tuple(
                    JobInput(
                        i["name"],
                        i["kind"],
                        int(i["listing_id"]),
                        i["manifest_hash"],
                        i["array"],
                        None if i["columns"] is None else tuple(i["columns"]),
                    )
                    for i in doc["inputs"]
                ),
                outputs=tuple(doc["outputs"]),
                receiver_address=doc["receiver"]["address"],
                receiver_key=doc["receiver"]["x25519_public"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, JobSpecError):
                raise
            raise JobSpecError(f"job spec is malformed: {exc!r}") from None
        if spec.to_bytes() != data:
            raise JobSpecError("job spec bytes are not in canonical form (sorted keys, no spaces)")
        return spec


def inputs_digest(manifest_hashes: list[bytes]) -> bytes:
    """The attested digest of a job's inputs: sha256 over the input manifest hashes in job order."""
    return hashlib.sha256(b"dx-inputs/v1" + b"".join(manifest_hashes)).digest()


def column_indices(manifest: Manifest, job_input: JobInput) -> list[int] | None:
    """Positions of the selected columns inside the manifest array (None: the whole array)."""
    arr = manifest.array(job_input.array)
    if job_input.columns is None:
        return None
    if len(arr.shape) != 2:
        raise JobSpecError(
            f"input {job_input.name!r}: column selection needs a 2-D array, {arr.name} is {arr.shape}"
        )
    index = {c: k for k, c in enumerate(arr.columns)}
    missing = [c for c in job_input.columns if c not in index]
    if missing:
        raise JobSpecError(
            f"input {job_input.name!r}: columns {missing} are not in array {arr.name} {arr.columns}"
        )
    return [index[c] for c in job_input.columns]


def input_shapes(spec: JobSpec, manifests: dict[str, Manifest]) -> list[tuple[str, tuple[int, ...], str]]:
    """The public (name, shape, dtype) of each program input, from the manifests and column selection."""
    specs = []
    for job_input in spec.inputs:
        manifest = manifests.get(job_input.manifest_hash)
        if manifest is None:
            raise JobSpecError(f"input {job_input.name!r}: no manifest {job_input.manifest_hash}")
        if manifest.kind != job_input.kind:
            raise JobSpecError(
                f"input {job_input.name!r}: manifest is a {manifest.kind}, spec says {job_input.kind}"
            )
        arr = manifest.array(job_input.array)
        cols = column_indices(manifest, job_input)
        shape = arr.shape if cols is None else (arr.shape[0], len(cols))
        specs.append((job_input.name, tuple(shape), arr.dtype))
    return specs


def compile_for(spec: JobSpec, manifests: dict[str, Manifest]):
    """The compiled program of a spec (mpc_compute.algorithms.CompiledProgram), checked against it."""
    from mpc_compute.algorithms import ALGORITHMS, compile_program

    algorithm = ALGORITHMS.get(spec.algorithm)
    if algorithm is None:
        raise JobSpecError(f"unknown algorithm {spec.algorithm!r} (known: {sorted(ALGORITHMS)})")
    if algorithm.version != spec.algorithm_version:
        raise JobSpecError(
            f"spec asks {spec.algorithm}@{spec.algorithm_version}, this node has version {algorithm.version}"
        )
    program = compile_program(spec.algorithm, input_shapes(spec, manifests), spec.params)
    config_hash = hashlib.sha256(program.config).hexdigest()
    for job_input in spec.inputs:
        made_for = manifests[job_input.manifest_hash].spu_config_hash
        if made_for != config_hash:
            raise JobSpecError(
                f"input {job_input.name!r}: shares were made for SPU config {made_for[:16]}..., "
                f"{spec.algorithm} runs under {config_hash[:16]}..."
            )
    if tuple(program.output_names) != spec.outputs:
        raise JobSpecError(
            f"spec expects outputs {list(spec.outputs)}, the program gives {list(program.output_names)}"
        )
    return program


def program_hash_for(spec: JobSpec, manifests: dict[str, Manifest]) -> bytes:
    """The program hash a job must carry: reproducible by anyone from the spec and the manifests."""
    return compile_for(spec, manifests).program_hash
