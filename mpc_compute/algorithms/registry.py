"""The algorithm registry: every library algorithm by name, and compiling one by its name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mpc_compute.algorithms import (
    blacklist_match,
    joint_stats,
    logreg_train,
    multi_lender,
    psi_stats,
    secret_model_score,
)
from mpc_compute.algorithms.base import Algorithm, CompiledProgram, InputSpec, UnknownAlgorithm
from mpc_compute.algorithms.compiler import compile_algorithm

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm.from_module(m)
        for m in (joint_stats, psi_stats, multi_lender, logreg_train, secret_model_score, blacklist_match)
    )
}


def compile_program(
    algorithm_name: str,
    input_specs: Sequence[InputSpec | Sequence[Any]],
    params: dict[str, Any] | None = None,
) -> CompiledProgram:
    """compile_program("joint_stats", [("data_0", (1000, 8), "float32")], {...}) -> CompiledProgram."""
    try:
        algorithm = ALGORITHMS[algorithm_name]
    except KeyError:
        raise UnknownAlgorithm(
            f"unknown algorithm {algorithm_name!r} (known: {sorted(ALGORITHMS)})"
        ) from None
    return compile_algorithm(algorithm, input_specs, params)
