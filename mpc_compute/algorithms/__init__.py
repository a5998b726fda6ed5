"""The algorithm library: versioned jax.numpy programs compiled to SPU, and their registry."""

from __future__ import annotations

from mpc_compute.algorithms import (
    blacklist_match,
    joint_stats,
    logreg_train,
    multi_lender,
    psi_stats,
    secret_model_score,
)
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
from mpc_compute.algorithms.compiler import compile_algorithm, compile_program
from mpc_compute.algorithms.oblivious import id_to_field, ids_to_field

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm.from_module(m)
        for m in (joint_stats, psi_stats, multi_lender, logreg_train, secret_model_score, blacklist_match)
    )
}

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
