"""Compile a library algorithm for public shapes and parameters into a hashed SPU executable."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import enable_x64
from spu import libspu
from spu.utils import frontend

from mpc_compute import spu_runtime
from mpc_compute.algorithms.base import Algorithm, CompiledProgram, InputSpec

_lock = threading.Lock()


def compile_algorithm(
    algorithm: Algorithm, input_specs: Sequence[InputSpec | Sequence[Any]], params: dict[str, Any] | None
) -> CompiledProgram:
    """Deterministic: the same algorithm, specs (in order) and params give byte-identical executables.

    Compilation always runs with jax_enable_x64 so int64 IDs stay 64-bit and the IR does not depend on
    the caller's jax flags.
    """
    specs = [InputSpec.of(s) for s in input_specs]
    algorithm.check_inputs(specs)
    checked = algorithm.check_params(specs, dict(params or {}))
    build = algorithm.build(specs, checked)
    specs = [*specs, *build.node_inputs]
    executable, avals = compile_jax(build.fn, specs, (*build.output_names, *build.kept_names))
    exe_bytes = executable.SerializeToString()
    config = spu_runtime.config_bytes(algorithm.config())
    return CompiledProgram(
        algorithm=algorithm.name,
        version=algorithm.version,
        executable=exe_bytes,
        config=config,
        program_hash=spu_runtime.program_digest(exe_bytes, config),
        input_names=tuple(s.name for s in specs),
        output_names=tuple(build.output_names),
        kept_outputs=tuple(build.kept_names),
        output_avals=avals,
    )


def compile_jax(
    fn: Any, specs: Sequence[InputSpec], output_names: tuple[str, ...]
) -> tuple[libspu.Executable, tuple[tuple[tuple[int, ...], str], ...]]:
    """fn compiled to SPU for secret inputs of these specs, with the (shape, dtype) of each output."""
    args = [np.zeros(s.shape, dtype=s.dtype) for s in specs]
    with _lock, enable_x64():
        executable, _ = frontend.compile(
            frontend.Kind.JAX,
            fn,
            args,
            {},
            [s.name for s in specs],
            [libspu.Visibility.VIS_SECRET] * len(specs),
            lambda outs: _output_names(output_names, outs),
        )
        avals = tuple(
            (tuple(int(d) for d in a.shape), np.dtype(a.dtype).name) for a in jax.eval_shape(fn, *args)
        )
    return executable, avals


def _output_names(declared: tuple[str, ...], outs: list[Any]) -> list[str]:
    if len(declared) != len(outs):
        raise RuntimeError(f"program returns {len(outs)} outputs but declares {len(declared)}: {declared}")
    return list(declared)
