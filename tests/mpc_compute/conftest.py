"""Fixtures for MPC tests: three real SPU party processes (reused for the session) and a job helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from mpc_compute import spu_runtime
from mpc_compute.algorithms import CompiledProgram
from tests.fixtures.local_parties import LocalParties

RunJob = Callable[[CompiledProgram, dict[str, np.ndarray]], dict[str, np.ndarray]]


@pytest.fixture(scope="session")
def local_parties() -> Iterator[LocalParties]:
    """Three spawned party processes; every job gets fresh loopback ports."""
    parties = LocalParties()
    try:
        yield parties
    finally:
        parties.close()


def _share_inputs(plain: dict[str, np.ndarray]) -> list[dict[str, bytes]]:
    """Per-rank input dicts of serialized shares, as the input clients would deliver them."""
    per_rank: list[dict[str, bytes]] = [{}, {}, {}]
    for name, array in plain.items():
        for rank, share in enumerate(spu_runtime.make_shares(array)):
            per_rank[rank][name] = share
    return per_rank


@pytest.fixture(scope="session")
def share_inputs() -> Callable[[dict[str, np.ndarray]], list[dict[str, bytes]]]:
    return _share_inputs


@pytest.fixture(scope="session")
def run_job(local_parties: LocalParties) -> RunJob:
    """Share the inputs, run the program on the three processes, check and open every output."""

    def run(program: CompiledProgram, plain: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = local_parties.run(program, _share_inputs(plain), timeout=300)
        opened = {}
        for name in program.output_names:
            shares = [outputs[rank][name] for rank in range(3)]
            assert spu_runtime.check_replicated_consistency(shares) == [], f"output {name} inconsistent"
            opened[name] = np.asarray(spu_runtime.reconstruct(shares))
        return opened

    return run
