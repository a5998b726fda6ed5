"""Differential privacy inside MPC: the node sampler, the noise path in SPU, a real three-process run.

Statistical tests run on fixed seeds, so they are deterministic; each docstring states the rate at which
the same test would fail on a fresh seed although the mechanism is right (its false-failure rate).
"""

from __future__ import annotations

import numpy as np
import pytest
import spu.utils.simulation as spsim
from scipy import stats

from mpc_compute import dp, spu_runtime
from mpc_compute.algorithms import InvalidParams, compile_program, joint_stats
from mpc_compute.party import InputMismatchError, run_party

ALPHA = 1e-3  # every KS test below rejects at p < ALPHA
DRAWS = 20_000


def _nodes(seed: int, n: int) -> list[np.ndarray]:
    return [dp.sample_unit_noise(n, dp.node_rng(seed, r)) for r in range(3)]


def _pvalue(sample: np.ndarray, cdf) -> float:
    return float(stats.kstest(sample, cdf).pvalue)


def test_any_two_nodes_draws_sum_to_laplace_1_and_all_three_to_the_released_law():
    """KS at α = 1e-3 on 20,000 draws, four tests: on a fresh seed they would fail together with
    probability at most 4e-3 (union bound); on these seeds they pass deterministically."""
    u = _nodes(seed=12, n=DRAWS)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        p = _pvalue(u[a] + u[b], stats.laplace.cdf)
        assert p > ALPHA, f"nodes {a} + {b}: KS p = {p:.2e} against Laplace(1)"
    total = u[0] + u[1] + u[2]
    assert _pvalue(total, dp.released_noise_cdf) > ALPHA
    assert abs(total.var() - dp.released_noise_variance(1.0)) < 0.15  # 3 +- 5 standard errors


def test_the_sampler_tests_have_power():
    """What the KS tests above would catch: one node's draws alone are not Laplace(1), and the
    three-node sum is not Laplace(1) either (variance 3, not 2). Each rejects at p < 1e-6."""
    u = _nodes(seed=12, n=DRAWS)
    assert _pvalue(u[0], stats.laplace.cdf) < 1e-6
    assert _pvalue(u[0] + u[1] + u[2], stats.laplace.cdf) < 1e-6


def test_node_rng_is_fresh_unless_seeded():
    a, b = (dp.sample_unit_noise(8, dp.node_rng()) for _ in range(2))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(
        dp.sample_unit_noise(8, dp.node_rng(5, 1)), dp.sample_unit_noise(8, dp.node_rng(5, 1))
    )
    assert not np.array_equal(
        dp.sample_unit_noise(8, dp.node_rng(5, 1)), dp.sample_unit_noise(8, dp.node_rng(5, 2))
    )


def test_released_noise_cdf_is_the_density_integral():
    # Gamma(3/2) - Gamma(3/2) by Monte Carlo at a few points (1e6 draws: 5 standard errors < 3e-3)
    rng = np.random.default_rng(3)
    z = rng.gamma(1.5, 1.0, 1_000_000) - rng.gamma(1.5, 1.0, 1_000_000)
    for x in (-4.0, -1.0, 0.0, 0.5, 2.0, 6.0):
        assert abs(dp.released_noise_cdf(x) - (z <= x).mean()) < 3e-3
    assert dp.released_noise_cdf(0.0) == pytest.approx(0.5)


SIM_DRAWS = 5000


def test_mpc_noise_path_releases_the_declared_distribution():
    """The path joint_stats uses (add_noise: the three nodes' secret draws summed and scaled by a public
    b with mul_public), run in SPU's simulator under the cluster config over 5,000 statistics at once:
    (released - exact) / b is Gamma(3/2) - Gamma(3/2) (KS at α = 1e-3: a fresh seed would fail with
    probability 1e-3), and is not the narrower Laplace(b) a single-node or two-node noise would give."""
    b = 7.5  # e.g. a count at ε = 0.4 split over 3 statistics
    exact = np.full(SIM_DRAWS, 1234.0, dtype=np.float32)
    noise = _nodes(seed=99, n=SIM_DRAWS)
    sim = spsim.Simulator(3, spu_runtime.runtime_config())
    released = np.asarray(
        spsim.sim_jax(sim, lambda v, n0, n1, n2: joint_stats.add_noise(v, [n0, n1, n2], b))(exact, *noise),
        dtype=np.float64,
    )
    z = (released - exact) / b
    # the release is the plaintext mechanism's value but for fixed point and the float32 output
    # (1234 + noise is read back to 2^-13 = 1.2e-4)
    np.testing.assert_allclose(released - exact, b * (noise[0] + noise[1] + noise[2]), atol=5e-4)
    assert _pvalue(z, dp.released_noise_cdf) > ALPHA
    assert _pvalue(z, stats.laplace.cdf) < 1e-6
    assert np.var(released - exact) == pytest.approx(dp.released_noise_variance(b), rel=0.1)


SHAPE = [("data_0", (60, 2), "float32"), ("data_1", (40, 2), "float32")]
DP_PARAMS = {"dp_epsilon": 1.5, "dp_bounds": {"0": [0, 100], "1": [-5, 5]}, "hist_edges": {"0": [0, 50, 100]}}


def test_dp_params_are_checked_and_name_the_rule():
    with pytest.raises(InvalidParams, match="needs dp_bounds"):
        compile_program("joint_stats", SHAPE, {"dp_epsilon": 1.0})
    with pytest.raises(InvalidParams, match=r"missing \[1\]"):
        compile_program("joint_stats", SHAPE, {"dp_epsilon": 1.0, "dp_bounds": {"0": [0, 1]}})
    with pytest.raises(InvalidParams, match="without dp_epsilon"):
        compile_program("joint_stats", SHAPE, {"dp_bounds": {"0": [0, 1], "1": [0, 1]}})
    with pytest.raises(InvalidParams, match="lo < hi"):
        compile_program("joint_stats", SHAPE, {"dp_epsilon": 1.0, "dp_bounds": {"0": [1, 0], "1": [0, 1]}})
    with pytest.raises(InvalidParams, match="must be a number >= 0"):
        compile_program("joint_stats", SHAPE, {"dp_epsilon": -1})
    with pytest.raises(InvalidParams, match="ring's product limit"):
        compile_program("joint_stats", SHAPE, {"dp_epsilon": 0.01, "dp_bounds": {"0": [0, 1e5], "1": [0, 1]}})


def test_dp_program_takes_node_noise_and_drops_the_variance():
    exact = compile_program("joint_stats", SHAPE, {})
    assert compile_program("joint_stats", SHAPE, {"dp_epsilon": 0}).program_hash == exact.program_hash
    program = compile_program("joint_stats", SHAPE, DP_PARAMS)
    # 1 count + 2 sums + 2 bins
    assert program.input_names == ("data_0", "data_1", *dp.noise_input_names(5))
    assert program.output_names == (
        "released", "count", "sum", "mean", "histogram", "histogram_released", "differencing_refused",
    )
    assert program.kept_outputs == ("cohort",)
    plan = joint_stats.dp_plan(SHAPE, DP_PARAMS)
    assert plan.epsilon_per_statistic == pytest.approx(1.5 / 4)
    assert plan.sum_scales[0] == pytest.approx(100 / 0.375, rel=1e-6)


def test_a_party_refuses_noise_supplied_from_outside():
    """A provider (or buyer) must not be able to choose the noise: a supplied dp_noise input is refused
    before the party links to anyone."""
    program = compile_program("joint_stats", SHAPE, DP_PARAMS)
    x = np.zeros((60, 2), np.float32)
    inputs = {
        "data_0": spu_runtime.make_shares(x)[0],
        "data_1": spu_runtime.make_shares(x[:40])[0],
        "dp_noise/0/5": spu_runtime.make_shares(np.zeros(5))[0],
    }
    with pytest.raises(InputMismatchError, match=r"unexpected \['dp_noise/0/5'\]"):
        run_party(0, ["127.0.0.1:1"] * 3, program, inputs)
    del inputs["dp_noise/0/5"]
    del inputs["data_1"]
    with pytest.raises(InputMismatchError, match=r"missing \['data_1'\]"):
        run_party(0, ["127.0.0.1:1"] * 3, program, inputs)


def _data() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    a = np.stack([rng.uniform(-10, 110, 60), rng.normal(0, 4, 60)], axis=1).astype(np.float32)
    b = np.stack([rng.uniform(-10, 110, 40), rng.normal(0, 4, 40)], axis=1).astype(np.float32)
    return [a, b]


def _open(outputs, program) -> dict[str, np.ndarray]:
    opened = {}
    for name in program.output_names:
        shares = [outputs[r][name] for r in range(3)]
        assert spu_runtime.check_replicated_consistency(shares) == [], name
        opened[name] = np.asarray(spu_runtime.reconstruct(shares), dtype=np.float64)
    return opened


@pytest.mark.mpc
def test_three_parties_exchange_noise_over_the_link_and_release_it(local_parties, share_inputs):
    """With a test seed every party's own draws are known here: the release must be the exact (clipped)
    statistics plus b times the sum of all three parties' draws, which only holds if each party shared
    its noise and the others received it. Unseeded, the count is off by a plausible amount: |noise| < 40 b
    fails with probability below 1e-15."""
    parts = _data()
    program = compile_program("joint_stats", SHAPE, DP_PARAMS)
    plan = joint_stats.dp_plan(SHAPE, DP_PARAMS)
    exact = joint_stats.plaintext(parts, DP_PARAMS)
    inputs = share_inputs({"data_0": parts[0], "data_1": parts[1]})

    got = _open(local_parties.run(program, inputs, dp_noise_seed=31, timeout=300), program)
    u = sum(dp.sample_unit_noise(plan.noise_length, dp.node_rng(31, r)) for r in range(3))
    assert got["released"] == 1.0
    assert got["count"] == pytest.approx(exact["count"] + plan.count_scale * u[0], abs=1e-3)
    want_sum = exact["sum"] + np.array(plan.sum_scales) * u[1:3]
    np.testing.assert_allclose(got["sum"], want_sum, atol=2e-3)
    np.testing.assert_allclose(got["mean"], want_sum / np.clip(got["count"], 1, 100), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["histogram"], exact["histogram"] + plan.hist_scale * u[3:], atol=1e-3)
    # the clipping counted: unclipped values (down to -10, up to 110) give another sum
    assert not np.allclose(exact["sum"], np.concatenate(parts).sum(axis=0), atol=1.0)

    fresh = _open(local_parties.run(program, inputs, timeout=300), program)
    off = abs(fresh["count"] - exact["count"])
    assert 0 < off < 40 * plan.count_scale
    assert fresh["count"] != got["count"]


@pytest.mark.mpc
def test_the_same_job_without_dp_is_todays_exact_result(run_job):
    parts = _data()
    params = {"hist_edges": {"0": [0, 50, 100]}}
    program = compile_program("joint_stats", SHAPE, {**params, "dp_epsilon": 0})
    assert program.program_hash == compile_program("joint_stats", SHAPE, params).program_hash
    got = run_job(program, {"data_0": parts[0], "data_1": parts[1]})
    want = joint_stats.plaintext(parts, params)
    assert got["count"] == want["count"] == 100
    np.testing.assert_allclose(got["sum"], want["sum"], atol=1e-3)
    np.testing.assert_allclose(got["variance"], want["variance"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got["histogram"], want["histogram"])
