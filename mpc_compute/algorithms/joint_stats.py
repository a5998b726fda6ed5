"""joint_stats: count, sum, mean, variance and histograms of columns over rows pooled from several providers.

Inputs `data_0 .. data_<n-1>`: (rows_k, cols) float arrays with the same column layout, concatenated
inside the program (free under secret sharing). Public parameters:
- `hist_edges`: {column index: [e_0 < e_1 < ... < e_m]} -> m bins [e_j, e_{j+1}) for that column.
- `cohort`: optional {"column": c, "min": lo, "max": hi}: only rows with lo <= x[c] < hi count (either
  bound may be null). The cohort size is then secret.
- `min_cohort`: refuse to release aggregates over fewer rows.
- `dp_epsilon`: ε > 0 releases the statistics with distributed Laplace noise (mpc_compute/dp.py: the
  sensitivities, the split of ε, the guarantee against one curious node); 0 or absent: exact, as before.
- `dp_bounds`: {column index: [lo, hi]}, required for every column when dp_epsilon > 0: each value is
  clipped to its bounds before it enters the sum and the mean (which is what bounds the sensitivity).

Refusal without leaking: the program computes the secret bit released = (count >= min_cohort) and
multiplies every aggregate (count included) by it, so the receiver learns either the aggregates or
zeros plus released = 0 ("refused: cohort below min_cohort"), never the actual small count.

Outputs: released (0/1), count (scalar), sum, mean, variance (population, per column), and when
hist_edges is set, histogram: the bin counts of each listed column in ascending column order, concatenated,
and histogram_released: 1 per bin holding at least min_cohort rows, else 0. A bin below the floor is
suppressed obliviously (its count reads 0, its flag 0): the receiver learns only that it was suppressed.
Last, differencing_refused: 0 from this program; the nodes' differencing guard (mpc_compute/guard.py),
run after it, sets it to 1 (and every other output to 0) when the cohort is within k rows of an earlier
released cohort of the same dataset. The program also returns `cohort`, the per-row membership bits,
which the nodes keep as shares for that guard and never seal to the receiver.

Under DP (dp_epsilon > 0) the outputs are released, count, sum, mean and, with hist_edges, histogram
and histogram_released: count, sum and every bin get b * (u_0 + u_1 + u_2) added, mean is the noisy sum
over max(noisy count, 1) clamped to the row count (post-processing), and variance is NOT released (it
is no output of the program). The k floor (released, histogram_released) stays on the exact counts.

Precision (FM64, 18 fraction bits), against the exact float64 statistics (tests/mpc_compute/
test_fixed_point.py pins the worst cases):
- count and histogram: exact integers up to 10^8 rows (a sum of 0/1 values is exact ring additions,
  10^8 * 2^18 < 2^45 * 2^18 = 2^63; the histogram's suppression product counts * kept stays < 2^27);
- sum: exact ring additions of the rows (each truncated once by the cohort weight, 2^-18), so within
  n * 4e-6 absolute, for |x| < 1.3e8 per value and |sum| < 3.5e13; released through a select, not a
  multiplication by the release bit, which would overflow the ring for |sum| >= 2^27;
- mean, variance: fixed_point.divide_by_count (prescaled, one Newton step): 2e-5 relative or 1e-4
  absolute, for |mean| and variance below 8e3 at cohorts over 4096 rows (|value| * cohort < 3.4e7
  below that): SPU's division fails past it. The two-pass variance keeps small variances (std 1e-2
  on a mean of 1e3) to 1e-5 absolute.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import jax.numpy as jnp
import numpy as np

from mpc_compute import dp
from mpc_compute.algorithms.base import (
    Build,
    InputSpec,
    InvalidInputs,
    InvalidParams,
    Role,
    only_keys,
    require,
)
from mpc_compute.algorithms.fixed_point import divide_by_count, mul_public

VERSION = "1.0.0"
DESCRIPTION = (
    "Count, sum, mean, variance and histograms over rows pooled from several providers, "
    "with an optional cohort filter and a minimum cohort size."
)
ROLES = (Role("data", "data", True, "(rows, cols) floats, one input per provider", use="aggregate"),)
GROUP_FLOOR_PARAM = "min_cohort"
OUTPUTS = (
    "released",
    "count",
    "sum",
    "mean",
    "variance",
    "histogram",
    "histogram_released",
    "differencing_refused",
)
# the differencing guard (mpc_compute/guard.py) keeps `cohort` at the nodes and gates the rest
COHORT_OUTPUT = "cohort"
RELEASE_OUTPUT = "released"
GUARD_OUTPUT = "differencing_refused"
RECEIVER = "buyer"
PARAMS_DOC = {
    "hist_edges": "{column: [increasing edges]}: bin counts [e_j, e_j+1) per listed column",
    "cohort": "{'column': c, 'min': lo|None, 'max': hi|None}: rows with lo <= x[c] < hi",
    "min_cohort": "release nothing (zeros, released=0) if the cohort has fewer rows",
    "dp_epsilon": "ε > 0: release count, sum, mean, histogram with distributed Laplace noise (no variance)",
    "dp_bounds": "{column: [lo, hi]}: clipping bounds of every column, required when dp_epsilon > 0",
}
NAME = "joint_stats"


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, {"hist_edges", "cohort", "min_cohort", "dp_epsilon", "dp_bounds"}, NAME)
    cols = {s.shape[1] if len(s.shape) == 2 else None for s in specs}
    if len(cols) != 1 or None in cols:
        raise InvalidInputs(
            f"{NAME}: every data input must be (rows, cols) with the same cols, got "
            f"{[s.shape for s in specs]}"
        )
    (ncols,) = cols
    require(ncols >= 1 and sum(s.shape[0] for s in specs) >= 1, f"{NAME}: needs at least one row and column")
    edges_in = params.get("hist_edges") or {}
    require(isinstance(edges_in, dict), f"{NAME}: hist_edges must be a mapping column -> edges")
    edges: dict[int, list[float]] = {}
    for key, values in edges_in.items():
        col = int(key)
        require(0 <= col < ncols, f"{NAME}: hist_edges column {col} outside 0..{ncols - 1}")
        vals = [float(v) for v in values]
        require(len(vals) >= 2, f"{NAME}: hist_edges[{col}] needs at least two edges")
        require(
            all(a < b for a, b in pairwise(vals)), f"{NAME}: hist_edges[{col}] must be strictly increasing"
        )
        edges[col] = vals
    cohort = params.get("cohort")
    if cohort is not None:
        require(
            isinstance(cohort, dict) and set(cohort) <= {"column", "min", "max"} and "column" in cohort,
            f"{NAME}: cohort must be {{'column': c, 'min': lo|None, 'max': hi|None}}",
        )
        col = int(cohort["column"])
        require(0 <= col < ncols, f"{NAME}: cohort column {col} outside 0..{ncols - 1}")
        lo, hi = cohort.get("min"), cohort.get("max")
        require(lo is not None or hi is not None, f"{NAME}: cohort needs a min or a max")
        cohort = {
            "column": col,
            "min": None if lo is None else float(lo),
            "max": None if hi is None else float(hi),
        }
    min_cohort = int(params.get("min_cohort", 0))
    require(min_cohort >= 0, f"{NAME}: min_cohort must be >= 0")
    checked = {"hist_edges": dict(sorted(edges.items())), "cohort": cohort, "min_cohort": min_cohort}
    checked["dp"] = _check_dp(params, ncols, checked["hist_edges"])
    return checked


def _check_dp(params: dict[str, Any], ncols: int, edges: dict[int, list[float]]) -> dp.DpPlan | None:
    epsilon = params.get("dp_epsilon", 0) or 0
    bounds_in = params.get("dp_bounds")
    require(
        isinstance(epsilon, int | float) and not isinstance(epsilon, bool) and epsilon >= 0,
        f"{NAME}: dp_epsilon must be a number >= 0 (0 = no differential privacy), got {epsilon!r}",
    )
    if epsilon == 0:
        require(
            bounds_in is None, f"{NAME}: dp_bounds given without dp_epsilon > 0: nothing would be clipped"
        )
        return None
    require(
        isinstance(bounds_in, dict),
        f"{NAME}: dp_epsilon > 0 needs dp_bounds {{column: [lo, hi]}} for every column 0..{ncols - 1} "
        "(a sum's sensitivity is its clipping bound)",
    )
    bounds: dict[int, tuple[float, float]] = {}
    for key, pair in bounds_in.items():
        col = int(key)
        require(0 <= col < ncols, f"{NAME}: dp_bounds column {col} outside 0..{ncols - 1}")
        require(
            isinstance(pair, list | tuple) and len(pair) == 2, f"{NAME}: dp_bounds[{col}] must be [lo, hi]"
        )
        bounds[col] = (float(pair[0]), float(pair[1]))
    missing = [c for c in range(ncols) if c not in bounds]
    require(not missing, f"{NAME}: dp_epsilon > 0 needs dp_bounds for every column; missing {missing}")
    try:
        return dp.plan(
            float(epsilon), [bounds[c] for c in range(ncols)], [len(e) - 1 for e in edges.values()]
        )
    except dp.DpError as exc:
        raise InvalidParams(f"{NAME}: {exc}") from None


def dp_plan(input_specs: list, params: dict[str, Any]) -> dp.DpPlan | None:
    """The ε split and noise scales a job's params give (None without DP): for tests, benchmarks, display."""
    return check_params([InputSpec.of(s) for s in input_specs], dict(params))["dp"]


def add_noise(value, noises, scale: float):
    """value + scale * (u_0 + u_1 + u_2): the three nodes' secret unit noise, scaled by a public b."""
    unit = noises[0] + noises[1] + noises[2]
    return value + mul_public(unit.astype(jnp.float32), scale)


def cohort_membership(x, cohort: dict[str, Any] | None):
    """(weights, bits): 1.0 / 1 for each row in the cohort (min <= column < max, either bound optional),
    else 0. Without a cohort the weights are public ones; the bits are always secret, since the nodes
    keep them as the job's cohort for the differencing guard."""
    if cohort is None:
        secret_one = (x[0, 0] == x[0, 0]).astype(jnp.int32)
        return jnp.ones((x.shape[0],), dtype=jnp.float32), jnp.ones(
            (x.shape[0],), dtype=jnp.int32
        ) * secret_one
    c = x[:, cohort["column"]]
    inside = None
    if cohort["min"] is not None:
        inside = c >= cohort["min"]
    if cohort["max"] is not None:
        below = c < cohort["max"]
        inside = below if inside is None else jnp.logical_and(inside, below)
    bits = inside.astype(jnp.int32)
    return bits.astype(jnp.float32), bits


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    edges: dict[int, list[float]] = params["hist_edges"]
    cohort = params["cohort"]
    min_cohort = params["min_cohort"]
    if params.get("dp") is not None:
        return _build_dp(params)

    def joint_stats(*parts):
        x = (
            jnp.concatenate([p.astype(jnp.float32) for p in parts], axis=0)
            if len(parts) > 1
            else parts[0].astype(jnp.float32)
        )
        w, bits = cohort_membership(x, cohort)
        count = jnp.sum(w)
        is_released = count >= min_cohort
        released = is_released.astype(jnp.float32)
        xw = x * w[:, None]
        total = jnp.sum(xw, axis=0)
        # Without a cohort the count is public, and SPU divides by a public value through a fixed-point
        # reciprocal (5e-4 relative error at 18 bits); a secret 1 routes it to the precise secret division.
        secret_one = (x[0, 0] == x[0, 0]).astype(jnp.float32)
        divisor = count * secret_one
        mean = divide_by_count(total, divisor, x.shape[0])
        # two-pass variance: E[x^2] - mean^2 loses the fraction bits that a centred sum keeps
        centred = (x - mean[None, :]) * w[:, None]
        variance = divide_by_count(jnp.sum(centred * centred, axis=0), divisor, x.shape[0])

        # a select, not `value * released`: that product overflows the ring once |value| >= 2^27
        def gate(value):
            return jnp.where(is_released, value, jnp.zeros_like(value))

        outs = [released, gate(count), gate(total), gate(mean), gate(variance)]
        if edges:
            bins = []
            for col, col_edges in edges.items():
                # cumulative counts at each edge, then neighbouring differences: one comparison per edge
                ge = jnp.stack([jnp.sum(w * (x[:, col] >= e).astype(jnp.float32)) for e in col_edges])
                bins.append(ge[:-1] - ge[1:])
            counts = jnp.concatenate(bins)
            kept = (counts >= min_cohort).astype(jnp.float32) * released
            outs += [counts * kept, kept]
        # the guard, run by the nodes after this program, sets it when it refuses the release
        return (*outs, jnp.zeros_like(released), bits)

    names = ("released", "count", "sum", "mean", "variance") + (
        ("histogram", "histogram_released") if edges else ()
    )
    return Build(joint_stats, (*names, GUARD_OUTPUT), kept_names=(COHORT_OUTPUT,))


def _build_dp(params: dict[str, Any]) -> Build:
    """The DP variant: a separate function, so that the exact program's IR stays byte-identical."""
    edges: dict[int, list[float]] = params["hist_edges"]
    cohort = params["cohort"]
    min_cohort = params["min_cohort"]
    plan: dp.DpPlan = params["dp"]
    lo = np.array([b[0] for b in plan.bounds], dtype=np.float32)
    hi = np.array([b[1] for b in plan.bounds], dtype=np.float32)
    ncols = len(plan.bounds)

    def joint_stats_dp(*args):
        parts, noises = args[:-3], args[-3:]
        x = (
            jnp.concatenate([p.astype(jnp.float32) for p in parts], axis=0)
            if len(parts) > 1
            else parts[0].astype(jnp.float32)
        )
        rows = x.shape[0]
        w, bits = cohort_membership(x, cohort)
        # the k floor is decided on the exact count (outside the DP guarantee: mpc_compute/dp.py)
        count = jnp.sum(w)
        is_released = count >= min_cohort
        released = is_released.astype(jnp.float32)
        clipped = jnp.clip(x, lo, hi)
        total = jnp.sum(clipped * w[:, None], axis=0)
        noisy_count = add_noise(count, [n[0] for n in noises], plan.count_scale)
        noisy_total = jnp.stack(
            [add_noise(total[j], [n[1 + j] for n in noises], plan.sum_scales[j]) for j in range(ncols)]
        )
        # clamping to [1, rows] (rows is public) is post-processing and keeps the divisor in its domain
        mean = divide_by_count(noisy_total, jnp.clip(noisy_count, 1.0, float(rows)), rows)

        def gate(value):
            return jnp.where(is_released, value, jnp.zeros_like(value))

        outs = [released, gate(noisy_count), gate(noisy_total), gate(mean)]
        if edges:
            bins = []
            for col, col_edges in edges.items():
                ge = jnp.stack([jnp.sum(w * (x[:, col] >= e).astype(jnp.float32)) for e in col_edges])
                bins.append(ge[:-1] - ge[1:])
            counts = jnp.concatenate(bins)
            start = 1 + ncols
            noisy = add_noise(counts, [n[start : start + plan.hist_bins] for n in noises], plan.hist_scale)
            kept = (counts >= min_cohort).astype(jnp.float32) * released
            outs += [jnp.where(kept > 0, noisy, jnp.zeros_like(noisy)), kept]
        return (*outs, jnp.zeros_like(released), bits)

    names = ("released", "count", "sum", "mean") + (("histogram", "histogram_released") if edges else ())
    names = (*names, GUARD_OUTPUT)
    noise = tuple(
        InputSpec(n, (plan.noise_length,), dp.NOISE_DTYPE) for n in dp.noise_input_names(plan.noise_length)
    )
    return Build(joint_stats_dp, names, noise, kept_names=(COHORT_OUTPUT,))


def plaintext(parts: list, params: dict[str, Any]) -> dict[str, Any]:
    """The numpy oracle of the same computation (tests and benchmarks compare against it).

    With dp_epsilon > 0: the exact statistics the noise is added to (values clipped to dp_bounds for the
    sum and the mean, no variance), i.e. the released values' expectation but for the mean.
    """
    x = np.concatenate(parts, axis=0).astype(np.float64)
    w = np.ones(len(x))
    cohort = params.get("cohort")
    if cohort:
        c = x[:, int(cohort["column"])]
        if cohort.get("min") is not None:
            w = w * (c >= cohort["min"])
        if cohort.get("max") is not None:
            w = w * (c < cohort["max"])
    count = w.sum()
    released = float(count >= int(params.get("min_cohort", 0)))
    sel = x[w > 0]
    bounds = params.get("dp_bounds") if params.get("dp_epsilon") else None
    if bounds:
        pairs = {int(k): v for k, v in bounds.items()}
        lo, hi = (np.array([pairs[c][i] for c in range(x.shape[1])], dtype=np.float64) for i in (0, 1))
        summed = np.clip(sel, lo, hi)
    else:
        summed = sel
    mean = summed.mean(axis=0) if len(sel) else np.zeros(x.shape[1])
    var = sel.var(axis=0) if len(sel) else np.zeros(x.shape[1])
    out = {
        "released": released,
        "count": count * released,
        "sum": summed.sum(axis=0) * released,
        "mean": mean * released,
        "variance": var * released,
    }
    if bounds:
        del out["variance"]
    edges = params.get("hist_edges") or {}
    if edges:
        hist = []
        for col in sorted(int(k) for k in edges):
            e = np.asarray(edges[col] if col in edges else edges[str(col)], dtype=np.float64)
            ge = np.array([(sel[:, col] >= v).sum() for v in e], dtype=np.float64)
            hist.append(ge[:-1] - ge[1:])
        counts = np.concatenate(hist)
        kept = (counts >= int(params.get("min_cohort", 0))).astype(np.float64) * released
        out["histogram"] = counts * kept
        out["histogram_released"] = kept
    # no earlier cohort to difference against: what a job with no history releases
    out["differencing_refused"] = 0.0
    return out
