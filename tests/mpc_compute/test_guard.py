"""The differencing guard on three real SPU parties: a cohort within k rows of an earlier one is refused.

The attack it stops: joint_stats over a cohort of N rows, then over the same rows minus one; the two
sums subtracted are that one row's values. Each test runs the jobs one after the other, as a node does,
feeding each party its own kept shares of the earlier jobs; the oracle is the float64 difference the
attacker would compute.
"""

from __future__ import annotations

import numpy as np
import pytest

from mpc_compute import guard, spu_runtime
from mpc_compute.algorithms import ALGORITHMS, compile_program

pytestmark = pytest.mark.mpc

K = 5
ROWS = (40, 24)


@pytest.fixture(scope="module")
def data() -> list[np.ndarray]:
    rng = np.random.default_rng(20261202)
    # column 0 is the cohort column: distinct integers 0..99, so a cohort bound excludes exact rows
    keys = rng.permutation(100)[: sum(ROWS)].astype(np.float64)
    parts = np.split(keys, [ROWS[0]])
    return [np.column_stack([k, rng.normal(50.0, 10.0, len(k))]) for k in parts]


class History:
    """What each of the three nodes keeps: per input, its own shares of the earlier jobs' cohorts."""

    def __init__(self) -> None:
        self.kept: dict[str, list[tuple[int, list[bytes]]]] = {}
        self.next_job = 1

    def plans(self, k: int = K, inputs: tuple[str, ...] = ("data_0", "data_1")) -> list[guard.GuardPlan]:
        alg = ALGORITHMS["joint_stats"]
        plans = []
        for rank in range(3):
            segments, offset = [], 0
            for name in inputs:
                rows = ROWS[int(name.rsplit("_", 1)[1])]
                priors = tuple(guard.Prior(job, shares[rank]) for job, shares in self.kept.get(name, []))
                segments.append(guard.Segment(name, offset, rows, k, priors))
                offset += rows
            plans.append(
                guard.GuardPlan(alg.cohort_output, alg.release_output, alg.guard_output, tuple(segments))
            )
        return plans

    def run(self, local_parties, data, params: dict, k: int = K) -> dict[str, np.ndarray]:
        inputs = {f"data_{i}": part for i, part in enumerate(data)}
        shapes = [(name, part.shape, "float64") for name, part in inputs.items()]
        program = compile_program("joint_stats", shapes, params)
        per_rank = [{}, {}, {}]
        for name, array in inputs.items():
            for rank, share in enumerate(spu_runtime.make_shares(array)):
                per_rank[rank][name] = share
        plans = self.plans(k, tuple(inputs))
        outputs = local_parties.run(
            program, per_rank, per_rank_kwargs=[{"differencing_guard": p} for p in plans], timeout=300
        )
        job, self.next_job = self.next_job, self.next_job + 1
        for name in inputs:
            key = guard.kept_name(name)
            self.kept.setdefault(name, []).append((job, [outputs[r][key] for r in range(3)]))
        return {
            name: np.asarray(spu_runtime.reconstruct([outputs[r][name] for r in range(3)]))
            for name in program.output_names
        }

    def cohort(self, name: str, job: int) -> np.ndarray:
        shares = dict(self.kept[name])[job]
        return np.asarray(spu_runtime.reconstruct(shares))


def exact_sum(data, lo: float | None, hi: float | None) -> np.ndarray:
    x = np.concatenate(data)
    inside = np.ones(len(x), dtype=bool)
    if lo is not None:
        inside &= x[:, 0] >= lo
    if hi is not None:
        inside &= x[:, 0] < hi
    return x[inside].sum(axis=0)


def test_one_row_less_releases_nothing_and_says_why(local_parties, data) -> None:
    history = History()
    lo = float(np.sort(np.concatenate(data)[:, 0])[0])  # the smallest value: one row sits exactly at lo
    first = history.run(local_parties, data, {"cohort": {"column": 0, "min": lo}, "min_cohort": K})
    assert first["released"] == 1 and first["differencing_refused"] == 0
    np.testing.assert_allclose(first["sum"], exact_sum(data, lo, None), rtol=1e-5)

    second = history.run(local_parties, data, {"cohort": {"column": 0, "min": lo + 0.5}, "min_cohort": K})
    assert second["released"] == 0 and second["differencing_refused"] == 1
    assert not np.any(second["sum"]) and second["count"] == 0 and not np.any(second["mean"])
    # what the attacker wanted: the subtraction that would have isolated the row
    isolated = exact_sum(data, lo, None) - exact_sum(data, lo + 0.5, None)
    assert abs(isolated[0] - lo) < 1e-9
    # the refused job keeps the empty set, the released one its cohort
    x = np.concatenate(data)
    kept_first = np.concatenate([history.cohort("data_0", 1), history.cohort("data_1", 1)])
    np.testing.assert_array_equal(kept_first, (x[:, 0] >= lo).astype(np.int64))
    assert not np.any(history.cohort("data_0", 2)) and not np.any(history.cohort("data_1", 2))


def test_same_cohort_again_and_far_cohorts_release(local_parties, data) -> None:
    history = History()
    cut = 50.0
    a = history.run(local_parties, data, {"cohort": {"column": 0, "max": cut}, "min_cohort": K})
    again = history.run(local_parties, data, {"cohort": {"column": 0, "max": cut}, "min_cohort": K})
    assert a["released"] == again["released"] == 1
    np.testing.assert_allclose(again["sum"], exact_sum(data, None, cut), rtol=1e-5)
    # a cut that moves at least K rows of each dataset out of the cohort: far enough (the guard counts
    # the difference per dataset, each owner's k on its own rows)
    far = min(float(np.sort(part[part[:, 0] < cut, 0])[-K]) for part in data)
    for part in data:
        assert int(((part[:, 0] >= far) & (part[:, 0] < cut)).sum()) >= K
    b = history.run(local_parties, data, {"cohort": {"column": 0, "max": far}, "min_cohort": K})
    assert b["released"] == 1 and b["differencing_refused"] == 0
    np.testing.assert_allclose(b["sum"], exact_sum(data, None, far), rtol=1e-5)


def test_difference_inside_one_dataset_of_a_pool_is_caught(local_parties, data) -> None:
    """Pooled, the cohorts differ by 41 rows (far above k), but by 1 row of data_1: its history refuses."""
    history = History()
    pool = [data[0] + np.array([100.0, 0.0]), data[1]]  # data_0's keys 100.., data_1's below 100
    first = history.run(local_parties, pool, {"min_cohort": K})
    assert first["released"] == 1
    top = float(data[1][:, 0].max())
    second = history.run(local_parties, pool, {"cohort": {"column": 0, "max": top}, "min_cohort": K})
    x = np.concatenate(pool)[:, 0]
    assert int((x >= top).sum()) == ROWS[0] + 1 and int((data[1][:, 0] >= top).sum()) == 1
    assert second["released"] == 0 and second["differencing_refused"] == 1


def test_below_the_floor_is_refused_by_the_floor_not_the_guard(local_parties, data) -> None:
    history = History()
    history.run(local_parties, data, {"min_cohort": K})
    x = np.concatenate(data)[:, 0]
    tiny = float(np.sort(x)[2])  # 2 rows below
    small = history.run(local_parties, data, {"cohort": {"column": 0, "max": tiny}, "min_cohort": K})
    assert small["released"] == 0 and small["differencing_refused"] == 0


def test_k_below_two_checks_nothing(local_parties, data) -> None:
    history = History()
    lo = float(np.sort(np.concatenate(data)[:, 0])[0])
    history.run(local_parties, data, {"cohort": {"column": 0, "min": lo}}, k=1)
    again = history.run(local_parties, data, {"cohort": {"column": 0, "min": lo + 0.5}}, k=1)
    assert again["released"] == 1


def test_nodes_with_different_histories_refuse_to_run(local_parties, data) -> None:
    history = History()
    history.run(local_parties, data, {"min_cohort": K})
    inputs = {f"data_{i}": part for i, part in enumerate(data)}
    program = compile_program(
        "joint_stats", [(n, p.shape, "float64") for n, p in inputs.items()], {"min_cohort": K}
    )
    per_rank = [{}, {}, {}]
    for name, array in inputs.items():
        for rank, share in enumerate(spu_runtime.make_shares(array)):
            per_rank[rank][name] = share
    plans = history.plans()
    # rank 2 "lost" its kept cohorts (a wiped disk, or a node that wants the guard off)
    plans[2] = guard.GuardPlan(
        plans[2].cohort_output,
        plans[2].release_output,
        plans[2].guard_output,
        tuple(guard.Segment(s.input_name, s.offset, s.rows, s.k) for s in plans[2].segments),
    )
    outcomes = local_parties.run_outcomes(
        [program] * 3, per_rank, per_rank_kwargs=[{"differencing_guard": p} for p in plans], timeout=300
    )
    assert all(o.outputs is None for o in outcomes)
    assert all("differencing guard differs" in str(o.error) for o in outcomes), [
        str(o.error) for o in outcomes
    ]


def test_kept_cohort_shares_are_not_the_cohort(local_parties, data) -> None:
    """Each node's kept share alone is not the membership vector (replicated shares look random)."""
    history = History()
    history.run(local_parties, data, {"cohort": {"column": 0, "max": 50.0}, "min_cohort": K})
    want = (data[0][:, 0] < 50.0).astype(np.int64)
    shares = dict(history.kept["data_0"])[1]
    for share in shares:
        raw = np.frombuffer(spu_runtime.parse_share(share).content(), dtype=np.uint8)
        halves = raw.reshape(2, -1) if raw.size % 2 == 0 else raw[None, :]
        for half in halves:
            assert not np.array_equal(half[: len(want)], want)
        assert int(raw.max()) > 1  # random ring bytes, not 0/1 bits
    np.testing.assert_array_equal(history.cohort("data_0", 1), want)


def test_without_the_guard_the_attack_isolates_one_row(run_job, data) -> None:
    """The attack as it went through before the guard: two releases, one subtraction, one row's values."""
    inputs = {f"data_{i}": part for i, part in enumerate(data)}
    shapes = [(name, part.shape, "float64") for name, part in inputs.items()]
    lo = float(np.sort(np.concatenate(data)[:, 0])[0])
    sums = []
    for bound in (lo, lo + 0.5):
        out = run_job(
            compile_program("joint_stats", shapes, {"cohort": {"column": 0, "min": bound}, "min_cohort": K}),
            inputs,
        )
        assert out["released"] == 1
        sums.append(out["sum"])
    x = np.concatenate(data)
    row = x[x[:, 0] == lo][0]
    np.testing.assert_allclose(sums[0] - sums[1], row, atol=1e-2)
