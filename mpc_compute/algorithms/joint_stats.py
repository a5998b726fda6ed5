"""joint_stats: count, sum, mean, variance and histograms of columns over rows pooled from several providers.

Inputs `data_0 .. data_<n-1>`: (rows_k, cols) float arrays with the same column layout, concatenated
inside the program (free under secret sharing). Public parameters:
- `hist_edges`: {column index: [e_0 < e_1 < ... < e_m]} -> m bins [e_j, e_{j+1}) for that column.
- `cohort`: optional {"column": c, "min": lo, "max": hi}: only rows with lo <= x[c] < hi count (either
  bound may be null). The cohort size is then secret.
- `min_cohort`: refuse to release aggregates over fewer rows.

Refusal without leaking: the program computes the secret bit released = (count >= min_cohort) and
multiplies every aggregate (count included) by it, so the receiver learns either the aggregates or
zeros plus released = 0 ("refused: cohort below min_cohort"), never the actual small count.

Outputs: released (0/1), count (scalar), sum, mean, variance (population, per column), and when
hist_edges is set, histogram: the bin counts of each listed column in ascending column order, concatenated.

Precision (FM64, 18 fraction bits): sums/counts exact to ~1e-5 relative for |x| up to ~1e4 and up to
a few million rows; mean/variance use one secret division each, numerator and divisor prescaled by a
power of two so the divisor stays below 2^12 (relative error ~1e-5).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import jax.numpy as jnp
import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys, require

VERSION = "1.0.0"
DESCRIPTION = (
    "Count, sum, mean, variance and histograms over rows pooled from several providers, "
    "with an optional cohort filter and a minimum cohort size."
)
ROLES = (Role("data", "data", True, "(rows, cols) floats, one input per provider"),)
OUTPUTS = ("released", "count", "sum", "mean", "variance", "histogram")
RECEIVER = "buyer"
PARAMS_DOC = {
    "hist_edges": "{column: [increasing edges]}: bin counts [e_j, e_j+1) per listed column",
    "cohort": "{'column': c, 'min': lo|None, 'max': hi|None}: rows with lo <= x[c] < hi",
    "min_cohort": "release nothing (zeros, released=0) if the cohort has fewer rows",
}
NAME = "joint_stats"


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, {"hist_edges", "cohort", "min_cohort"}, NAME)
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
    return {"hist_edges": dict(sorted(edges.items())), "cohort": cohort, "min_cohort": min_cohort}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    edges: dict[int, list[float]] = params["hist_edges"]
    cohort = params["cohort"]
    min_cohort = params["min_cohort"]

    def joint_stats(*parts):
        x = (
            jnp.concatenate([p.astype(jnp.float32) for p in parts], axis=0)
            if len(parts) > 1
            else parts[0].astype(jnp.float32)
        )
        if cohort is None:
            w = jnp.ones((x.shape[0],), dtype=jnp.float32)
        else:
            c = x[:, cohort["column"]]
            w = jnp.ones_like(c)
            if cohort["min"] is not None:
                w = w * (c >= cohort["min"]).astype(jnp.float32)
            if cohort["max"] is not None:
                w = w * (c < cohort["max"]).astype(jnp.float32)
        count = jnp.sum(w)
        released = (count >= min_cohort).astype(jnp.float32)
        xw = x * w[:, None]
        total = jnp.sum(xw, axis=0)
        # Without a cohort the count is public, and SPU divides by a public value through a fixed-point
        # reciprocal (5e-4 relative error at 18 bits); a secret 1 routes it to the precise secret division.
        secret_one = (x[0, 0] == x[0, 0]).astype(jnp.float32)
        # SPU's secret division returns 0 once the divisor passes ~2^18 (its reciprocal underflows the
        # fraction bits): divide numerator and divisor by 2^k first so the divisor stays below 2^12.
        # Exact for the integer count (k <= 8 fraction bits used for a million rows).
        shift = 2.0 ** -max(0, int(x.shape[0]).bit_length() - 12)
        denom = jnp.maximum(count, 1.0) * secret_one * shift
        mean = (total * shift) / denom
        # two-pass variance: E[x^2] - mean^2 loses the fraction bits that a centred sum keeps
        centred = (x - mean[None, :]) * w[:, None]
        variance = (jnp.sum(centred * centred, axis=0) * shift) / denom
        outs = [released, count * released, total * released, mean * released, variance * released]
        if edges:
            bins = []
            for col, col_edges in edges.items():
                # cumulative counts at each edge, then neighbouring differences: one comparison per edge
                ge = jnp.stack([jnp.sum(w * (x[:, col] >= e).astype(jnp.float32)) for e in col_edges])
                bins.append(ge[:-1] - ge[1:])
            outs.append(jnp.concatenate(bins) * released)
        return tuple(outs)

    names = ("released", "count", "sum", "mean", "variance") + (("histogram",) if edges else ())
    return Build(joint_stats, names)


def plaintext(parts: list, params: dict[str, Any]) -> dict[str, Any]:
    """The numpy oracle of the same computation (tests and benchmarks compare against it)."""
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
    mean = sel.mean(axis=0) if len(sel) else np.zeros(x.shape[1])
    var = sel.var(axis=0) if len(sel) else np.zeros(x.shape[1])
    out = {
        "released": released,
        "count": count * released,
        "sum": sel.sum(axis=0) * released,
        "mean": mean * released,
        "variance": var * released,
    }
    edges = params.get("hist_edges") or {}
    if edges:
        hist = []
        for col in sorted(int(k) for k in edges):
            e = np.asarray(edges[col] if col in edges else edges[str(col)], dtype=np.float64)
            ge = np.array([(sel[:, col] >= v).sum() for v in e], dtype=np.float64)
            hist.append(ge[:-1] - ge[1:])
        out["histogram"] = np.concatenate(hist) * released
    return out
