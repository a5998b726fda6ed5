"""The algorithm library: versioned jax.numpy programs compiled to SPU, and their registry."""

from __future__ import annotations

from mpc_compute.algorithms import joint_stats
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

ALGORITHMS: dict[str, Algorithm] = {}


def _register(algorithm: Algorithm) -> None:
    ALGORITHMS[algorithm.name] = algorithm


_register(
    Algorithm(
        name=joint_stats.NAME,
        version=joint_stats.VERSION,
        description="Count, sum, mean, variance and histograms over rows pooled from several providers, "
        "with an optional cohort filter and a minimum cohort size.",
        roles=(Role("data", "data", True, "(rows, cols) floats, one input per provider"),),
        outputs=("released", "count", "sum", "mean", "variance", "histogram"),
        result_receiver="buyer",
        params_doc={
            "hist_edges": "{column: [increasing edges]}: bin counts [e_j, e_j+1) per listed column",
            "cohort": "{'column': c, 'min': lo|None, 'max': hi|None}: rows with lo <= x[c] < hi",
            "min_cohort": "release nothing (zeros, released=0) if the cohort has fewer rows",
        },
        check_params=joint_stats.check_params,
        build=joint_stats.build,
        module=joint_stats,
    )
)

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
]
