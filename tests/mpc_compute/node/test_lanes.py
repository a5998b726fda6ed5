"""Job lanes on plain sockets: the three nodes run each lane's jobs in one agreed, fair order, lanes run at
once, jobs over a guarded dataset never overlap, and a job one node lacks is refused without stalling."""

from __future__ import annotations

import threading
import time

import pytest

from mpc_compute.node.lanes import LaneRefused, Lanes
from tests.fixtures.local_parties import free_ports

# manifest hashes: D's lane is 1 of 2 (0x...0d is odd), E's is 0
D, E = "0d" * 32, "0e" * 32


def lane_ports(lanes: int) -> list[list[str]]:
    return [[f"127.0.0.1:{p}" for p in free_ports(3)] for _ in range(lanes)]


class Node:
    """One node's lanes and a record of the jobs it ran: (job, lane, start, end) or (job, refusal)."""

    def __init__(self, rank: int, addresses: list[list[str]], patience_s: float = 20.0) -> None:
        self.lanes = Lanes(rank, addresses, meeting_timeout_s=8.0, patience_s=patience_s)
        self.ran: list[tuple[int, int, float, float]] = []
        self.refused: dict[int, str] = {}
        self.threads: list[threading.Thread] = []

    def submit(
        self,
        job: int,
        buyer: str,
        datasets: frozenset[str] = frozenset(),
        hold: float = 0.3,
        after: float = 0.0,
    ) -> None:
        def run() -> None:
            time.sleep(after)
            try:
                with self.lanes.turn(job, buyer, datasets) as lane:
                    start = time.monotonic()
                    time.sleep(hold)
                    self.ran.append((job, lane, start, time.monotonic()))
            except LaneRefused as exc:
                self.refused[job] = str(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self, timeout: float = 60.0) -> None:
        for thread in self.threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a job never got its turn"
        self.lanes.stop()

    def order(self, lane: int | None = None) -> list[int]:
        return [job for job, ln, _, _ in sorted(self.ran, key=lambda r: r[2]) if lane in (None, ln)]


def overlap(a: tuple, b: tuple) -> bool:
    return a[2] < b[3] and b[2] < a[3]


@pytest.fixture
def nodes(request):
    lanes, patience = request.param
    addresses = lane_ports(lanes)
    made = [Node(rank, addresses, patience) for rank in range(3)]
    yield made
    for node in made:
        node.lanes.stop()


@pytest.mark.parametrize("nodes", [(2, 20.0)], indirect=True)
def test_a_burst_holds_another_buyers_job_back_one_turn_and_every_node_agrees(nodes):
    burst = [3, 4, 5, 6, 7, 8]  # buyer A's, requested first; every job reads guarded dataset D
    for rank, node in enumerate(nodes):
        # each node sees the jobs in its own order and at its own time, as chain watches do
        order = burst if rank != 2 else burst[::-1]
        for k, job in enumerate(order):
            node.submit(job, "0xA", frozenset({D}), after=0.02 * k * rank)
        node.submit(9, "0xB", frozenset({D}), after=0.15 if rank == 1 else 0.1)
    for node in nodes:
        node.join()
    # B never ran before: its job goes right after A's first, not after A's whole burst; all in D's lane
    expected = [3, 9, 4, 5, 6, 7, 8]
    assert [node.order() for node in nodes] == [expected] * 3
    assert {lane for node in nodes for _, lane, _, _ in node.ran} == {1}
    assert not any(node.refused for node in nodes)


@pytest.mark.parametrize("nodes", [(2, 20.0)], indirect=True)
def test_lanes_run_at_once_and_jobs_over_a_guarded_dataset_never_overlap(nodes):
    # job -> the guarded datasets it reads; 13 reads both, in D's lane, and so meets E's jobs of lane 0
    jobs = {10: {E}, 11: {D}, 12: {E}, 13: {D, E}, 14: set(), 15: {D}}
    for node in nodes:
        for job, datasets in jobs.items():
            node.submit(job, f"0x{job}", frozenset(datasets), hold=0.5)
    for node in nodes:
        node.join()
    for node in nodes:
        runs = {job: next(r for r in node.ran if r[0] == job) for job in jobs}
        assert {job: r[1] for job, r in runs.items()} == {10: 0, 11: 1, 12: 0, 13: 1, 14: 0, 15: 1}
        assert overlap(runs[10], runs[11])  # two lanes at once
        for a in jobs:
            for b in jobs:
                if a < b and jobs[a] & jobs[b] and runs[a][1] != runs[b][1]:
                    # a shared guarded dataset across lanes: never at once, and in job-id order
                    assert runs[a][3] <= runs[b][2], (a, b, runs[a], runs[b])
                elif a < b and jobs[a] & jobs[b]:
                    assert not overlap(runs[a], runs[b]), (a, b)
    for lane in (0, 1):
        assert nodes[0].order(lane) == nodes[1].order(lane) == nodes[2].order(lane)


@pytest.mark.parametrize("nodes", [(1, 1.5)], indirect=True)
def test_a_job_one_node_lacks_is_refused_and_the_lane_moves_on(nodes):
    # job 20 reached nodes 0 and 1 only (node 2 refused it, or never saw it); 21 reached all three
    for rank, node in enumerate(nodes):
        if rank != 2:
            node.submit(20, "0xA")
        node.submit(21, "0xB", after=0.05)
    for node in nodes:
        node.join()
    for node in nodes[:2]:
        assert "passed job 20 over" in node.refused[20] and "peer node(s) [2]" in node.refused[20], (
            node.refused
        )
    assert [node.order() for node in nodes] == [[21]] * 3


def test_a_node_that_never_meets_is_named_and_the_job_refused():
    addresses = lane_ports(1)
    present = [Node(rank, addresses) for rank in (0, 1)]
    for node in present:
        node.submit(30, "0xA")
    for node in present:
        node.join(30)
        assert node.ran == [] and "peer node(s) [2] did not come" in node.refused[30], node.refused
