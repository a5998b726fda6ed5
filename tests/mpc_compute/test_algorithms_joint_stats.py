"""joint_stats on three real SPU processes against the numpy oracle (FM64, 18 fraction bits)."""

from __future__ import annotations

import numpy as np
import pytest

from mpc_compute.algorithms import InvalidInputs, InvalidParams, compile_program
from mpc_compute.algorithms.joint_stats import plaintext

pytestmark = pytest.mark.mpc

# Fixed-point tolerance: counts and histograms are exact; sums to 1e-5 relative; mean and variance
# go through one secret division each: 1e-4 relative (plus a small absolute floor near zero).
REL, ABS = 1e-4, 1e-3


def specs(parts):
    return [(f"data_{k}", p.shape, "float32") for k, p in enumerate(parts)]


def run_stats(run_job, parts, params):
    program = compile_program("joint_stats", specs(parts), params)
    got = run_job(program, {f"data_{k}": p for k, p in enumerate(parts)})
    return got, plaintext(parts, params)


def assert_matches(got, want):
    assert got["released"] == want["released"]
    assert round(float(got["count"])) == want["count"]
    np.testing.assert_allclose(got["sum"], want["sum"], rtol=1e-5, atol=ABS)
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=REL, atol=ABS)
    np.testing.assert_allclose(got["variance"], want["variance"], rtol=REL, atol=ABS)
    if "histogram" in want:
        np.testing.assert_array_equal(np.round(got["histogram"]), want["histogram"])


def test_three_providers_with_cohort_and_histograms(run_job):
    rng = np.random.default_rng(7)
    parts = [rng.normal(40, 12, size=(n, 5)).astype(np.float32) for n in (700, 400, 300)]
    params = {
        "hist_edges": {0: [0, 20, 40, 60, 100], 3: [-50, 35, 45, 200]},
        "cohort": {"column": 1, "min": 30, "max": 55},
        "min_cohort": 50,
    }
    got, want = run_stats(run_job, parts, params)
    assert want["released"] == 1.0 and 0 < want["count"] < 1400
    assert_matches(got, want)


def test_single_row_and_all_equal_column(run_job):
    one = np.array([[3.25, -1.5, 7.0]], dtype=np.float32)
    flat = np.full((200, 3), 12.5, dtype=np.float32)
    got, want = run_stats(run_job, [one, flat], {"hist_edges": {0: [0, 10, 20]}})
    assert_matches(got, want)
    got, want = run_stats(run_job, [flat], {})
    assert_matches(got, want)
    np.testing.assert_allclose(got["variance"], 0.0, atol=ABS)
    np.testing.assert_allclose(got["mean"], 12.5, rtol=REL)


def test_min_cohort_refusal_releases_only_zeros(run_job):
    rng = np.random.default_rng(3)
    parts = [rng.uniform(0, 100, size=(500, 2)).astype(np.float32)]
    params = {
        "cohort": {"column": 0, "min": 99.0, "max": None},
        "min_cohort": 20,
        "hist_edges": {1: [0, 50, 100]},
    }
    got, want = run_stats(run_job, parts, params)
    assert want["released"] == 0.0
    assert got["released"] == 0.0
    for name in ("count", "sum", "mean", "variance", "histogram"):
        np.testing.assert_array_equal(got[name], 0.0)


def test_empty_cohort_without_minimum(run_job):
    parts = [np.arange(20, dtype=np.float32).reshape(10, 2)]
    got, want = run_stats(run_job, parts, {"cohort": {"column": 0, "min": 1000.0, "max": None}})
    assert want["count"] == 0
    assert_matches(got, want)


def test_parameter_validation_names_the_problem():
    spec = [("data_0", (10, 3), "float32")]
    with pytest.raises(InvalidParams, match="hist_edges\\[1\\] must be strictly increasing"):
        compile_program("joint_stats", spec, {"hist_edges": {1: [3, 2]}})
    with pytest.raises(InvalidParams, match="unknown parameters \\['bins'\\]"):
        compile_program("joint_stats", spec, {"bins": 3})
    with pytest.raises(InvalidInputs, match="same cols"):
        compile_program("joint_stats", [*spec, ("data_1", (4, 2), "float32")], {})
    with pytest.raises(InvalidInputs, match="fits no role"):
        compile_program("joint_stats", [("table", (10, 3), "float32")], {})


def test_mean_and_variance_over_a_large_cohort(run_job):
    """SPU's plain secret division returns 0 for divisors past ~2^18: 300k rows caught that."""
    x = np.random.default_rng(9).normal(50, 15, size=(300_000, 1)).astype(np.float32)
    got, want = run_stats(run_job, [x], {"cohort": {"column": 0, "min": 10.0, "max": None}})
    assert want["count"] > 2**18
    assert_matches(got, want)


def test_sum_past_2_to_27_is_released_intact(run_job):
    """A cohort sum of 3e8: releasing it as `sum * released` overflowed the ring (it read 3.2e7)."""
    rng = np.random.default_rng(12)
    x = np.column_stack([rng.uniform(1.49e4, 1.51e4, 20_000), rng.uniform(0, 1, 20_000)]).astype(np.float32)
    got, want = run_stats(run_job, [x], {"cohort": {"column": 1, "min": 0.0, "max": None}, "min_cohort": 10})
    assert want["sum"][0] > 2**28
    assert_matches(got, want)
