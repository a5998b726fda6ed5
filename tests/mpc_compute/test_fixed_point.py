"""Fixed-point worst cases of the programs' nonlinear steps, in SPU's simulator under the cluster's config.

Every oracle is the exact float64 computation. The simulator runs the same ABY3 protocol over FM64 with
the cluster's runtime config (spu_runtime.runtime_config) in one process: small shapes, seconds each.

10M-row counts without 10M rows: a count is the sum of 0/1 fixed-point values, and a sum of secret
shares is plain addition in the ring Z_2^64 (no truncation, no rounding). Ring addition is associative,
so the ring element of a 10M-row count equals that of a sum of 10 rows holding 1e6 each: what can go
wrong at 10M rows is only (a) wraparound of the ring, (b) the division by that count, (c) the release
of the aggregates. Each is run below on values of exactly the 10M-row magnitudes, with the public
divisor shift the 10M-row program uses (divide_by_count(..., max_count=10_000_000)).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import spu.utils.simulation as spsim
from spu import libspu

from mpc_compute import spu_runtime
from mpc_compute.algorithms import fixed_point as fp

TEN_M = 10_000_000


def simulate(fn, *args, config: libspu.RuntimeConfig | None = None):
    sim = spsim.Simulator(3, config or spu_runtime.runtime_config())
    out = spsim.sim_jax(sim, fn)(*args)
    if isinstance(out, tuple | list):
        return [np.asarray(o, dtype=np.float64) for o in out]
    return np.asarray(out, dtype=np.float64)


EXTREMES = [-1000, -200, -40, -25, 25, 40, 200, 1000]
Z = np.concatenate([np.linspace(-20, 20, 8001), EXTREMES]).astype(np.float32)


def test_sigmoid_within_1e_4_of_the_exact_logistic_for_z_up_to_20_and_beyond():
    got = simulate(fp.sigmoid, Z)
    err = np.abs(got - fp.sigmoid_exact(Z))
    assert err.max() < fp.SIGMOID_MAX_ERROR, f"max error {err.max():.2e} at z = {Z[err.argmax()]}"
    # the old clipped polynomial was 0.06 off; a credit score on 550 points must move by < 0.06
    assert err.max() * 550 < 0.06


def test_the_old_polynomial_and_the_default_exp_fail_the_bound():
    """What the bound protects against: the previous sigmoid, and SPU's default Taylor exp."""
    u = np.clip(Z.astype(np.float64), -8, 8)
    poly = 0.5 + u * (1.91279750e-01 + u * u * (-4.59369579e-03 + u * u * 4.21896835e-05))
    assert np.abs(poly - fp.sigmoid_exact(Z)).max() > 0.05
    taylor = spu_runtime.runtime_config()
    taylor.fxp_exp_mode = libspu.RuntimeConfig.ExpMode.EXP_TAYLOR
    x = np.linspace(-10, 0, 2001).astype(np.float32)
    err_taylor = np.abs(simulate(jnp.exp, x, config=taylor) - np.exp(x.astype(np.float64))).max()
    err_cluster = np.abs(simulate(jnp.exp, x) - np.exp(x.astype(np.float64))).max()
    assert err_taylor > 5e-4 and err_cluster < fp.EXP_NEG_MAX_ERROR


def test_spu_own_logistic_lowering_is_exact_enough_under_the_cluster_config():
    got = simulate(jax.nn.sigmoid, Z[np.abs(Z) <= 20])
    assert np.abs(got - fp.sigmoid_exact(Z[np.abs(Z) <= 20])).max() < fp.SIGMOID_MAX_ERROR


def test_divide_by_count_across_counts_up_to_10m():
    rng = np.random.default_rng(1)
    counts = np.concatenate([[0, 1, 2, 3, 4095, 4096, 2**18 + 1], rng.integers(1, TEN_M, 40), [TEN_M]])
    counts = counts.astype(np.float32)  # integers below 2^24: exact in float32
    means = rng.uniform(-8e3, 8e3, len(counts))  # the domain: |mean| * min(count * shift, 2^12) < 2^25
    nums = (means * np.maximum(counts, 1)).astype(np.float32)
    got = simulate(lambda n, c: fp.divide_by_count(n, c, TEN_M), nums, counts)
    want = nums.astype(np.float64) / np.maximum(counts, 1)
    err = np.abs(got - want) / np.maximum(np.abs(want), 1.0)
    assert err.max() < fp.DIVIDE_MAX_REL_ERROR, f"max relative error {err.max():.2e}"


def test_divide_by_count_at_its_domain_edge_every_time():
    """A prescaled numerator just below the limit, 5,000 times over (the truncations are randomized, so
    one trial proves little: at 0.99 * 2^26 a third of them came out garbage)."""
    edge = np.full(5000, 0.99 * fp.DIVIDE_NUMERATOR_LIMIT / fp.divisor_shift(TEN_M), np.float32)
    counts = np.full(5000, TEN_M, np.float32)
    got = simulate(lambda n, c: fp.divide_by_count(n, c, TEN_M), edge, counts)
    np.testing.assert_allclose(got, edge.astype(np.float64) / TEN_M, rtol=fp.DIVIDE_MAX_REL_ERROR)


def test_divide_by_count_of_small_counts_20000_times():
    """Counts 1 to 3 under a large max_count: prescaling them put a 1.5% / count error on about 1 in 3,000
    divisions (a truncation one 2^-18 off on a divisor of count * 2^-12)."""
    counts = np.tile(np.array([1, 2, 3, 4095], np.float32), 5000)
    nums = (np.float32(1234.5678) * counts).astype(np.float32)
    got = simulate(lambda n, c: fp.divide_by_count(n, c, TEN_M), nums, counts)
    want = nums.astype(np.float64) / counts
    err = np.abs(got - want) / np.abs(want)
    assert err.max() < fp.DIVIDE_MAX_REL_ERROR, f"{(err >= fp.DIVIDE_MAX_REL_ERROR).sum()} divisions off"


def test_ten_million_row_count_sum_and_release():
    """The ring elements of a 10M-row count and of a 10M-row sum of values near 1e4, then released."""
    ones = np.full((10, 1), TEN_M / 10, np.float32)  # sum = the count of 10M rows of weight 1
    values = np.full((10, 1), 1e4 * TEN_M / 10, np.float32)  # sum = 1e11: 10M rows of 1e4

    def tail(ones, values):
        count = jnp.sum(ones)
        total = jnp.sum(values, axis=0)
        released = count >= 10
        mean = fp.divide_by_count(total, count, TEN_M)
        return (
            jnp.where(released, count, 0.0),
            jnp.where(released, total, jnp.zeros_like(total)),
            jnp.where(released, mean, jnp.zeros_like(mean)),
        )

    count, total, mean = simulate(tail, ones, values)
    assert round(float(count)) == TEN_M
    np.testing.assert_allclose(total, 1e11, rtol=1e-6)
    np.testing.assert_allclose(mean, 1e4, rtol=fp.DIVIDE_MAX_REL_ERROR)


@pytest.mark.parametrize("std", [1e-2, 1.0])
def test_two_pass_variance_keeps_small_variances(std):
    rng = np.random.default_rng(4)
    x = (1000 + rng.normal(0, std, size=(5000, 1))).astype(np.float32)

    def variance(x):
        count = jnp.sum(jnp.ones((x.shape[0],), jnp.float32) * (x[0, 0] == x[0, 0]))
        mean = fp.divide_by_count(jnp.sum(x, axis=0), count, x.shape[0])
        centred = x - mean[None, :]
        return mean, fp.divide_by_count(jnp.sum(centred * centred, axis=0), count, x.shape[0])

    mean, var = simulate(variance, x)
    exact = x.astype(np.float64)
    assert abs(mean[0] - exact.mean()) < 1e-3 * 0.05  # 2^-18 territory, not the 6e-5 x 1000 of plain division
    assert abs(var[0] - exact.var()) < 1e-5 + 1e-4 * exact.var()


def test_mul_public_keeps_significant_bits_of_small_constants():
    x = np.linspace(-1e4, 1e4, 101).astype(np.float32)
    got = simulate(lambda v: fp.mul_public(v, 1 / 50_000), x)
    np.testing.assert_allclose(got, x / 50_000, rtol=1e-4, atol=2e-5)
