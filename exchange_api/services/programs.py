"""Compile a job spec for a buyer: the spec the nodes will fetch and the program hash they will recompute.

Everything the spec binds comes from the chain (the algorithm's name and version, each dataset's manifest
hash and policy hash, the receiver's registered X25519 key) and the blob store (the manifests, the policies),
never from the catalog's copy. The program is compiled by mpc_compute.job_spec.compile_for, the function each
node runs before it computes, so the hash the buyer signs is the one the nodes check.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from pydantic import BaseModel, Field

from dx_core.blobstore import BlobError
from dx_core.cid import cid_from_digest
from exchange_api.deps import AppContext
from exchange_api.errors import NotFound, Unprocessable
from exchange_api.schemas import ADDRESS, UINT256
from exchange_api.services.relay import require_chain
from mpc_compute import job_spec
from mpc_compute.manifest import Manifest, ManifestError
from mpc_compute.policy import PolicyViolation, load_policy, required_floor

ZERO32 = bytes(32)
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class ProgramInputIn(BaseModel):
    """One program input: a dataset listing (by id) or the algorithm listing's secret model."""

    source: Annotated[int, Field(ge=1, lt=UINT256)] | Literal["model"]
    name: str | None = Field(default=None, pattern=NAME, description="program input name; default data_<k>")
    array: str | None = Field(default=None, pattern=NAME, description="manifest array; default features")
    columns: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, max_length=256, description="columns to select, in order; null: the whole array"
    )


class ProgramCompileIn(BaseModel):
    algorithm_id: int = Field(ge=1, lt=UINT256)
    inputs: list[ProgramInputIn] = Field(min_length=1, max_length=16)
    params: dict[str, Any] = Field(default_factory=dict, description="the algorithm's public parameters")
    receiver: str | None = Field(
        default=None, pattern=ADDRESS, description="result receiver; default: the caller"
    )


class ProgramInputOut(BaseModel):
    name: str
    shape: list[int]
    dtype: str


class ProgramCompileOut(BaseModel):
    algorithm_id: int
    algorithm: str
    algorithm_version: str
    dataset_ids: list[int]
    program_hash: str = Field(
        description="what ComputeJobs.request binds; every node recompiles and compares"
    )
    params_hash: str = Field(description="sha256 of the canonical spec bytes (the job's paramsHash)")
    spec_cid: str
    spec: dict[str, Any]
    params: dict[str, Any] = Field(
        description="the parameters compiled, group floor raised to the policies' k"
    )
    outputs: list[str]
    inputs: list[ProgramInputOut] = Field(description="the public shapes the program was compiled for")
    result_receiver: str
    result_key: str


class CompileRefused(Unprocessable):
    """The job spec cannot be compiled; `extra.rule` names which rule refused it."""

    slug, title = "compile-refused", "The job spec does not compile"

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}", extra={"rule": rule})


def _manifest(ctx: AppContext, digest: bytes, what: str) -> Manifest:
    try:
        return Manifest.from_bytes(ctx.blobs.get(cid_from_digest(digest)), digest)
    except (BlobError, OSError) as exc:
        raise CompileRefused(
            "manifest-missing",
            f"{what}: manifest {digest.hex()[:16]}... is not in the blob store ({type(exc).__name__})",
        ) from None
    except (ManifestError, ValueError) as exc:
        raise CompileRefused("manifest-invalid", f"{what}: {exc}") from None


def compile_job(ctx: AppContext, body: ProgramCompileIn, buyer: str) -> ProgramCompileOut:
    """Build the job spec from the chain's records, compile it as the nodes will, store the spec blob."""
    from mpc_compute import algorithms  # jax and spu load in seconds: only when a spec is compiled

    ledger = require_chain(ctx).ledger
    on_chain = ledger.market.algorithm(body.algorithm_id)
    if on_chain is None:
        raise NotFound(f"no algorithm listing {body.algorithm_id} on-chain")
    alg = algorithms.ALGORITHMS.get(on_chain.name)
    if alg is None:
        raise CompileRefused(
            "unknown-algorithm",
            f"algorithm listing {body.algorithm_id} runs {on_chain.name!r}, "
            f"which is not in the library (known: {sorted(algorithms.ALGORITHMS)})",
        )
    if alg.version != on_chain.version:
        raise CompileRefused(
            "algorithm-version",
            f"algorithm listing {body.algorithm_id} is {on_chain.name}@"
            f"{on_chain.version}; the library the nodes run has version {alg.version}",
        )

    manifests: dict[str, Manifest] = {}
    inputs: list[job_spec.JobInput] = []
    dataset_ids: list[int] = []
    for k, item in enumerate(body.inputs):
        name = item.name or f"data_{k}"
        if item.source == "model":
            mhash = bytes(on_chain.secret_params_hash)
            if mhash == ZERO32:
                raise CompileRefused(
                    "no-model", f"input {name!r}: algorithm listing {on_chain.id} has no secret model"
                )
            listing_id, kind = on_chain.id, "model"
        else:
            listing = ledger.market.dataset(int(item.source))
            if listing is None:
                raise NotFound(f"input {name!r}: no dataset listing {item.source} on-chain")
            mhash, listing_id, kind = bytes(listing.manifest_hash), listing.id, "dataset"
            if listing_id not in dataset_ids:
                dataset_ids.append(listing_id)
        manifest = _manifest(ctx, mhash, f"input {name!r}")
        manifests[mhash.hex()] = manifest
        array = item.array or ("features" if kind == "dataset" else manifest.arrays[0].name)
        cols = tuple(item.columns) if item.columns else None
        inputs.append(job_spec.JobInput(name, kind, listing_id, mhash.hex(), array, cols))
    if not dataset_ids:
        raise CompileRefused("no-dataset", "a job names at least one dataset")

    receiver = to_checksum_address(body.receiver or buyer)
    member = ledger.registry.member(receiver)
    if member is None or bytes(member.encryption_key) == ZERO32:
        raise CompileRefused(
            "receiver-key", f"{receiver} has no encryption key registered: nobody could open the result"
        )
    receiver_key = bytes(member.encryption_key).hex()

    params = _job_params(ctx, ledger, alg, dict(body.params), inputs, manifests, dataset_ids)

    def make_spec(outputs: tuple[str, ...]) -> job_spec.JobSpec:
        return job_spec.JobSpec(alg.name, alg.version, tuple(inputs), outputs, receiver, receiver_key, params)

    try:  # the outputs depend on the parameters: ask the compiler, then check the whole spec as nodes will
        shapes = job_spec.input_shapes(make_spec(()), manifests)
        outputs = tuple(algorithms.compile_program(alg.name, shapes, params).output_names)
        spec = make_spec(outputs)
        program = job_spec.compile_for(spec, manifests)
    except job_spec.JobSpecError as exc:
        raise CompileRefused("spec-mismatch", str(exc)) from None
    except algorithms.AlgorithmError as exc:
        rule = {"InvalidParams": "invalid-params", "InvalidInputs": "invalid-inputs"}.get(
            type(exc).__name__, "algorithm-refused"
        )
        raise CompileRefused(rule, str(exc)) from None
    except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError) as exc:
        # A parameter of the wrong JSON type trips an algorithm's own conversions (int("x"), float([]))
        # before its checks: the buyer's parameters are at fault, not the server.
        raise CompileRefused(
            "invalid-params", f"{alg.name}: parameters {params} do not parse: {exc!r}"
        ) from None
    data = spec.to_bytes()
    cid = ctx.blobs.put(data)  # the nodes and the owners fetch the spec by the job's paramsHash
    return ProgramCompileOut(
        algorithm_id=on_chain.id,
        algorithm=alg.name,
        algorithm_version=alg.version,
        dataset_ids=dataset_ids,
        program_hash="0x" + program.program_hash.hex(),
        params_hash="0x" + spec.digest().hex(),
        spec_cid=cid,
        spec=spec.to_dict(),
        params=params,
        outputs=list(outputs),
        inputs=[ProgramInputOut(name=n, shape=list(s), dtype=d) for n, s, d in shapes],
        result_receiver=receiver,
        result_key="0x" + receiver_key,
    )


def _job_params(
    ctx: AppContext,
    ledger: Any,
    alg: Any,
    asked: dict[str, Any],
    inputs: list[job_spec.JobInput],
    manifests: dict[str, Manifest],
    dataset_ids: list[int],
) -> dict[str, Any]:
    """As the CLI's buyer client: a model fixes its own public parameters, and the algorithm's group floor
    is raised to the largest k of the datasets' policies (the nodes refuse a job below either)."""
    model = next((i for i in inputs if i.kind == "model"), None)
    if model is not None:
        fixed = manifests[model.manifest_hash].public_params
        if asked and asked != fixed:
            raise CompileRefused(
                "model-params",
                f"the model listing fixes its public parameters to {fixed}; a job cannot change them",
            )
        asked = dict(fixed)
    try:
        policies = [
            load_policy(bytes(ledger.market.dataset(d).policy_hash), ctx.blobs.get) for d in dataset_ids
        ]
    except PolicyViolation as exc:
        raise CompileRefused(exc.rule, str(exc)) from None
    return required_floor(asked, alg, policies)
