"""The algorithm library: versioned jax.numpy programs compiled to SPU, and their registry."""

from __future__ import annotations

from mpc_compute.algorithms.base import (
    Algorithm,
    AlgorithmError,
    CompiledProgram,
    InputSpec,
    InvalidInputs,
    InvalidParams,
    Role,
    UnknownAlgorithm,
)
from mpc_compute.algorithms.compiler import compile_algorithm
from mpc_compute.algorithms.oblivious import id_to_field, ids_to_field
from mpc_compute.algorithms.registry import ALGORITHMS, compile_program

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "AlgorithmError",
    "CompiledProgram",
    "InputSpec",
    "InvalidInputs",
    "InvalidParams",
    "Role",
    "UnknownAlgorithm",
    "compile_algorithm",
    "compile_program",
    "id_to_field",
    "ids_to_field",
]
