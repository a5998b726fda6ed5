"""Compile a library algorithm for public shapes and parameters into a hashed SPU executable."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

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
    args = [np.zeros(s.shape, dtype=s.dtype) for s in specs]
    names = [s.name for s in specs]
    with _lock, enable_x64():
        executable, _ = frontend.compile(
            frontend.Kind.JAX,
            build.fn,
            args,
            {},
            names,
            [libspu.Visibility.VIS_SECRET] * len(specs),
            lambda outs: _output_names(build.output_names, outs),
        )
    exe_bytes = executable.SerializeToString()
    config = spu_runtime.config_bytes(algorithm.config())
    return CompiledProgram(
        algorithm=algorithm.name,
        version=algorithm.version,
        executable=exe_bytes,
        config=config,
        program_hash=spu_runtime.program_digest(exe_bytes, config),
        input_names=tuple(names),
        output_names=tuple(build.output_names),
    )


def _output_names(declared: tuple[str, ...], outs: list[Any]) -> list[str]:
    if len(declared) != len(outs):
        raise RuntimeError(f"program returns {len(outs)} outputs but declares {len(declared)}: {declared}")
    return list(declared)

