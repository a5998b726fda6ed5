"""Real nodes run a job in one lane while the other lane holds another job, and both results are right."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mpc_compute.attestation import attestation_from_dict
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from tests.fixtures.cluster import prepare_joint_stats_job

pytestmark = pytest.mark.mpc


def stage_times(state: dict) -> dict[str, float]:
    return {e["stage"]: e["at"] for e in state["timeline"] if e.get("attempt") == state.get("attempt")}


def test_a_job_runs_in_its_lane_while_the_other_lane_holds_a_job_and_both_are_right(node_cluster, tmp_path):
    """Job a is queued first on nodes 0 and 1 and holds its lane there, waiting for node 2; job b, in the
    other lane, runs and completes meanwhile; then node 2 takes a up and it runs. With one lane (one
    job at a time), b would have waited behind a."""
    a = prepare_joint_stats_job(node_cluster, tmp_path / "a", rows=(60, 40), seed=1)
    for seed in range(2, 40):  # a job over guarded datasets runs in their lane: find b one in the other
        b = prepare_joint_stats_job(node_cluster, tmp_path / f"b{seed}", rows=(60, 40), seed=seed)
        if lane(b) != lane(a):
            break
    assert lane(a) != lane(b)
    node_cluster.trigger(a.job_id, a.claim, nodes=[0, 1])
    wait_for_stage(node_cluster, a.job_id, "queued", nodes=[0, 1])
    node_cluster.trigger(b.job_id, b.claim)
    b_states = node_cluster.wait(b.job_id)
    assert [s["status"] for s in b_states] == ["succeeded"] * 3, [s["error"] for s in b_states]
    assert [node_cluster.status(i, a.job_id)["status"] for i in (0, 1)] == ["running"] * 2
    node_cluster.trigger(a.job_id, a.claim, nodes=[2])
    a_states = node_cluster.wait(a.job_id)
    assert [s["status"] for s in a_states] == ["succeeded"] * 3, [s["error"] for s in a_states]
    for i in (0, 1):
        ta, tb = stage_times(a_states[i]), stage_times(b_states[i])
        assert ta["queued"] < tb["turn"] < tb["computed"] < ta["turn"], (ta, tb)
    store = open_blob_source(str(node_cluster.blob_dir))
    for job, states in ((a, a_states), (b, b_states)):
        result = fetch_result(
            job.job_id,
            [attestation_from_dict(s["attestation"]) for s in states],
            job.receiver,
            store,
            expected_addresses=node_cluster.addresses,
            expected_program_hash=bytes.fromhex(job.claim["program_hash"]),
        )
        np.testing.assert_allclose(result["sum"], job.expected["sum"], rtol=1e-4)
        np.testing.assert_allclose(result["mean"], job.expected["mean"], rtol=1e-3)


def lane(job) -> int:
    """The job's lane of two (node/lanes.py): the lowest manifest hash of its guarded datasets, mod 2."""
    return int(min(job.manifests), 16) % 2


def wait_for_stage(cluster, job_id: int, stage: str, nodes: list[int], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(stage in stage_times(cluster.status(i, job_id)) for i in nodes):
        assert time.monotonic() < deadline, f"job {job_id} never reached {stage!r} on nodes {nodes}"
        time.sleep(0.1)
