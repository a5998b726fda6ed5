"""Fixed-point helpers for the programs: products with public constants, sigmoid, division by a count.

Every bound below is measured in SPU's simulator under the cluster's runtime config (ABY3, FM64, 18
fraction bits, Pade exp: spu_runtime.runtime_config) against the exact float64 computation, and pinned
by tests/mpc_compute/test_fixed_point.py.

Ring limits (FM64, 18 fraction bits), which every program here must respect:
- a secret value: |v| < 2^45 (3.5e13); sums of secrets are exact ring additions (no rounding), so a
  sum of n values is exact up to that limit whatever n is;
- a product of two secret fixed-point values: |a * b| < 2^27 (1.3e8), since the ring holds the product
  at 36 fraction bits before truncation; past it the result is garbage, not a rounding error. A select
  (jnp.where) on a secret bit has no such limit: use it, not a multiplication, to zero a large value.
- one truncation per product: an error of at most 2^-18 (3.8e-6) absolute.

SPU encodes a public constant with the 18 fraction bits, so x * (1 / 50000) multiplies by 5/2^18 (a 5%
error). mul_public splits c = m * 2^-e (m in [0.5, 1)): x * m keeps 18 significant bits of c, and the
power of two is applied in exact steps of at most 2^-16.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

# Measured maximum absolute errors (see the module docstring), with a margin: the tests pin these.
SIGMOID_MAX_ERROR = 1e-4  # on the probability scale, any z (measured 2.6e-5 on [-20, 20] and at +-1000)
EXP_NEG_MAX_ERROR = 2e-4  # exp(x) for x <= 0 (measured 9e-5)
DIVIDE_MAX_REL_ERROR = 2e-5  # divide_by_count in its domain, or 2^-16 absolute (3.2e-6 measured)
DIVIDE_NUMERATOR_LIMIT = 2.0**25  # divide_by_count: its (prescaled) numerator must stay below it
# divide_by_count keeps the secret divisor below 2^DIVISOR_BITS: SPU's reciprocal underflows the
# fraction bits (returns 0) for divisors past ~2^18.
DIVISOR_BITS = 12


def mul_public(x, c: float):
    """x * c for a public constant c, to 18 significant bits of c (not 18 fraction bits): 3e-6 relative.

    The compiler's algebraic simplifier folds a chain of constant products into one constant (which
    brings the 5% error back), so every step goes through a select on a secret true bit it cannot see
    through: one scalar comparison per step.
    """
    if c == 0:
        return jnp.zeros_like(x)
    m, e = math.frexp(abs(c))  # c = m * 2^e, m in [0.5, 1)
    y = x * (math.copysign(m, c))
    while e != 0:
        step = max(e, -16) if e < 0 else min(e, 16)
        y = _fence(y) * (2.0**step)
        e -= step
    return y


def _fence(y):
    first = jnp.ravel(y)[0]
    return jnp.where(first == first, y, jnp.zeros_like(y))


def sigmoid(x):
    """1 / (1 + exp(-x)) within SIGMOID_MAX_ERROR (1e-4) absolute of the exact value, for every x.

    Evaluated on |x| so that exp only ever sees arguments <= 0: exp(-|x|) lies in (0, 1] (Pade exp,
    error <= 9e-5 measured), 1 + exp(-|x|) lies in [1, 2], where SPU's Goldschmidt reciprocal is accurate
    to 3e-5, and the error of 1 / (1 + e) in e is damped by its slope (at most 1). The sign is restored
    with a select (1 - q for x < 0). exp(x) for x > ~21 would overflow the ring, and 1 / (1 + huge)
    underflows: the naive formula is right only by luck there. Cost: 1 comparison, 1 exp, 1 reciprocal.
    """
    q = 1.0 / (1.0 + jnp.exp(-jnp.abs(x)))
    return jnp.where(x >= 0, q, 1.0 - q)


def sigmoid_exact(z: np.ndarray) -> np.ndarray:
    """The float64 logistic function (the oracle), stable for any z."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def divisor_shift(max_count: int) -> float:
    """The public power of two that keeps a count of at most max_count below 2^DIVISOR_BITS."""
    return 2.0 ** -max(0, int(max_count).bit_length() - DIVISOR_BITS)


def divide_by_count(num, count, max_count: int):
    """num / max(count, 1) for a secret integer count in [0, max_count], within 2e-5 relative.

    SPU's secret division alone is off by up to 6e-5 relative (0.5 absolute on a mean of 1e4, which a
    two-pass variance then squares into its bias), and returns 0 past divisors of ~2^18. So: a count of
    2^12 or more is prescaled, with the numerator, by a public power of two (the divisor stays below
    2^12), and one Newton correction q += (n - q d) / d brings the error to ~4e-6 relative or a few
    2^-18 absolute. A smaller count is divided as it is (a select, not a product): the prescaling
    product is truncated, and a truncation is now and then one 2^-18 off, which on a divisor of
    count * 2^-12 is a 1.5% / count error no correction sees (measured: 6 in 20,000 at count 1).

    Domain: the (prescaled) numerator must stay below 2^25 (3.4e7), i.e. |quotient| * min(count, 2^12)
    < 3.4e7: past it an intermediate product of SPU's division nears the ring's sign bit and comes out
    garbage now and then (a third of the time at 0.99 * 2^26). So a mean is exact to 2e-5 up to |mean|
    8e3 at large counts, and a variance up to 8e3 (std 90). The correction is applied only when it is
    small (|c| <= 1e-3 (|q| + 1), a select): a safety net should its product q * d ever leave the ring.
    """
    shift = divisor_shift(max_count)
    count = jnp.maximum(count, 1.0)
    if shift == 1.0:
        d, n = count, num
    else:
        small = count < 2.0**DIVISOR_BITS
        d = jnp.where(small, count, count * shift)
        n = jnp.where(small, num, num * shift)
    q = n / d
    c = (n - q * d) / d
    return q + jnp.where(jnp.abs(c) <= 1e-3 * (jnp.abs(q) + 1.0), c, jnp.zeros_like(c))
