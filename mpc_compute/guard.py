"""The differencing guard: no release whose cohort is within k rows of an earlier released cohort.

Two aggregates over cohorts A and B of one dataset give, subtracted, the aggregate over A Δ B: with
|A Δ B| = 1 that is one record (the report's "A+B+C−B−C", seed L1504). So every cohort algorithm
(`Algorithm.cohort_output`) also outputs its per-row membership bits, which the nodes keep: each node
its own share, sealed to its own key (mpc_compute/node/guard_store.py), never reconstructed. After the
algorithm's program, the nodes run the guard program on the same SPU link, which for every dataset
segment of the new cohort b and each kept cohort a of that dataset computes, in MPC,

    |a Δ b| = sum(a) + sum(b) - 2 a·b         (one secret inner product per earlier cohort)

and refuses, obliviously, when 0 < |a Δ b| < k (k: the dataset policy's minimum group size): every
output reads 0, the release flag 0 and `guard_output` 1. An identical cohort (Δ = 0) gives the same
aggregate again and isolates nobody, so it passes. The cohort the nodes keep for the new job is its
bits times its final release flag: a refused job adds the empty set, which isolates nothing either.

The guard program is part of the node runtime (version GUARD_VERSION), not of the approved program:
it is compiled by each node from the algorithm program's output shapes and the kept cohorts, and the
three nodes all-gather a digest of both (program hash, datasets, rows, k, the earlier jobs' ids) before
running it, so nodes whose histories differ refuse to run rather than mix them.

Cost: one (m, rows) x (rows,) secret integer product per dataset (m earlier cohorts), whose
communication is m ring elements, plus 2m comparisons; storage is one share of `rows` ring elements
per released job and dataset per node (8 bytes per row and share under FM64), bounded by max uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import jax.numpy as jnp

from mpc_compute import spu_runtime
from mpc_compute.algorithms.base import CompiledProgram, InputSpec

GUARD_VERSION = "1"
PRE_PREFIX = "pre/"
PRIOR_PREFIX = "prior/"
KEPT_PREFIX = "keep/"


class GuardError(ValueError):
    """A guard plan that does not fit its program (rows, names), or a kept cohort of the wrong shape."""


@dataclass(frozen=True)
class Prior:
    """An earlier job's kept cohort of one dataset, as this node's serialized share."""

    job_id: int
    share: bytes = field(repr=False)


@dataclass(frozen=True)
class Segment:
    """The rows of one program input inside the cohort vector, its dataset's k and its earlier cohorts."""

    input_name: str
    offset: int
    rows: int
    k: int
    priors: tuple[Prior, ...] = ()

    @property
    def checked(self) -> tuple[Prior, ...]:
        """The priors compared: with k < 2 no difference is small enough to refuse."""
        return self.priors if self.k >= 2 else ()


@dataclass(frozen=True)
class GuardPlan:
    cohort_output: str
    release_output: str
    guard_output: str
    segments: tuple[Segment, ...]
    # the guard program compiled ahead (by the node service, where jax is warm); None: the party compiles
    program: CompiledProgram | None = field(default=None, repr=False)


def kept_name(input_name: str) -> str:
    return f"{KEPT_PREFIX}{input_name}"


def prior_name(input_name: str, job_id: int) -> str:
    return f"{PRIOR_PREFIX}{input_name}/{job_id}"


def _cohort_aval(program: CompiledProgram, plan: GuardPlan) -> tuple[int, ...]:
    if plan.cohort_output not in program.kept_outputs:
        raise GuardError(f"program {program.algorithm} keeps no output {plan.cohort_output!r}")
    avals = dict(zip((*program.output_names, *program.kept_outputs), program.output_avals, strict=True))
    shape, _ = avals[plan.cohort_output]
    rows = sum(s.rows for s in plan.segments)
    if shape != (rows,):
        raise GuardError(f"the cohort output has shape {shape}, the guard's segments cover {rows} rows")
    at = 0
    for seg in plan.segments:
        if seg.offset != at:
            raise GuardError(f"segment {seg.input_name!r} starts at row {seg.offset}, expected {at}")
        at += seg.rows
    return shape


def guard_specs(program: CompiledProgram, plan: GuardPlan) -> list[InputSpec]:
    """The guard program's inputs: the algorithm's outputs (renamed pre/...), then the kept priors."""
    cohort_shape = _cohort_aval(program, plan)
    specs = [
        InputSpec(f"{PRE_PREFIX}{name}", shape, dtype)
        for name, (shape, dtype) in zip(program.output_names, program.output_avals, strict=False)
    ]
    specs.append(InputSpec(f"{PRE_PREFIX}{plan.cohort_output}", cohort_shape, "int32"))
    for seg in plan.segments:
        specs += [InputSpec(prior_name(seg.input_name, p.job_id), (seg.rows,), "int32") for p in seg.checked]
    return specs


def guard_fn(program: CompiledProgram, plan: GuardPlan):
    """The jax function of the guard: (outputs..., cohort, priors...) -> (gated outputs..., kept...)."""
    names = program.output_names
    for needed in (plan.release_output, plan.guard_output):
        if needed not in names:
            raise GuardError(f"program {program.algorithm} has no output {needed!r}")

    def differencing_guard(*args):
        outs = dict(zip(names, args[: len(names)], strict=True))
        cohort = args[len(names)].astype(jnp.int32)
        priors = iter(args[len(names) + 1 :])
        ok = jnp.array(True)
        bits = []
        for seg in plan.segments:
            b = cohort[seg.offset : seg.offset + seg.rows]
            bits.append(b)
            checked = [next(priors).astype(jnp.int32) for _ in seg.checked]
            if not checked:
                continue
            a = jnp.stack(checked)
            delta = jnp.sum(a, axis=1) + jnp.sum(b) - 2 * (a @ b)
            ok = jnp.logical_and(ok, jnp.logical_not(jnp.any(jnp.logical_and(delta > 0, delta < seg.k))))
        floor_ok = outs[plan.release_output] > 0.5
        released = jnp.logical_and(floor_ok, ok)
        gated = {name: jnp.where(ok, v, jnp.zeros_like(v)) for name, v in outs.items()}
        gated[plan.release_output] = released.astype(outs[plan.release_output].dtype)
        gated[plan.guard_output] = jnp.logical_and(floor_ok, jnp.logical_not(ok)).astype(
            outs[plan.guard_output].dtype
        )
        kept_bits = released.astype(jnp.int32)
        return (*(gated[n] for n in names), *(b * kept_bits for b in bits))

    return differencing_guard


def output_names(program: CompiledProgram, plan: GuardPlan) -> tuple[str, ...]:
    return (*program.output_names, *(kept_name(s.input_name) for s in plan.segments))


def compile_guard(program: CompiledProgram, plan: GuardPlan) -> CompiledProgram:
    """The guard's SPU program for this algorithm program and plan, under the program's own config."""
    from mpc_compute.algorithms.compiler import compile_jax

    specs = guard_specs(program, plan)
    executable, avals = compile_jax(guard_fn(program, plan), specs, output_names(program, plan))
    exe = executable.SerializeToString()
    return CompiledProgram(
        algorithm=f"differencing_guard/{program.algorithm}",
        version=GUARD_VERSION,
        executable=exe,
        config=program.config,
        program_hash=spu_runtime.program_digest(exe, program.config),
        input_names=tuple(s.name for s in specs),
        output_names=output_names(program, plan),
        output_avals=avals,
    )


def agreement_digest(guard_program: CompiledProgram, plan: GuardPlan) -> bytes:
    """What the three nodes must share before the guard runs: its program and whose cohorts it reads."""
    h = hashlib.sha256(b"dx-differencing-guard/" + GUARD_VERSION.encode() + b"\0")
    h.update(guard_program.program_hash)
    for seg in plan.segments:
        ids = ",".join(str(p.job_id) for p in seg.checked)
        h.update(f"{seg.input_name}|{seg.offset}|{seg.rows}|{seg.k}|{ids}\0".encode())
    return h.digest()


def check_prior_shape(seg: Segment, prior: Prior) -> None:
    shape = spu_runtime.parse_share(prior.share).shape()
    if shape != (seg.rows,):
        raise GuardError(
            f"the kept cohort of job {prior.job_id} for {seg.input_name!r} has shape {shape}, "
            f"the dataset has {seg.rows} rows"
        )
