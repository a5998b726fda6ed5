"""Real nodes run two jobs at once, one per lane, on their own link ports, and both results are right."""

from __future__ import annotations

import numpy as np
import pytest

from mpc_compute.attestation import attestation_from_dict
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from tests.fixtures.cluster import prepare_joint_stats_job

pytestmark = pytest.mark.mpc


def stage_times(state: dict) -> dict[str, float]:
    return {e["stage"]: e["at"] for e in state["timeline"] if e["attempt"] == state["attempt"]}


def test_two_jobs_in_two_lanes_run_side_by_side_and_both_are_right(node_cluster, tmp_path):
    jobs = [prepare_joint_stats_job(node_cluster, tmp_path / f"j{k}", rows=(60, 40), seed=k) for k in (1, 2)]
    assert jobs[0].job_id % 2 != jobs[1].job_id % 2
    for job in jobs:
        node_cluster.trigger(job.job_id, job.claim)
    store = open_blob_source(str(node_cluster.blob_dir))
    runs = []
    for job in jobs:
        states = node_cluster.wait(job.job_id)
        assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
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
        runs.append([stage_times(s) for s in states])
    for node in range(3):
        a, b = runs[0][node], runs[1][node]
        # each computed inside the other's turn: the two SPU runs overlapped on every node
        assert a["turn"] < b["computed"] and b["turn"] < a["computed"], (a, b)
