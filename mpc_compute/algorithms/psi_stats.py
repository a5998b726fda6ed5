"""psi_stats: size of the intersection of two secret ID sets, and column sums over the intersection.

Inputs: `left_ids` (n,) and `right_ids` (m,) int64 from `oblivious.id_to_field` (unique within each
input), optional `left_values` (n, a) and `right_values` (m, b) floats aligned with the IDs.
The IDs never leave secret sharing: all rows are sorted together by tagged key inside MPC and
neighbours compared (n + m rows, one sort), instead of n x m comparisons.
Public parameter `min_intersection`: below it, every output is zero and released = 0.
Outputs: released, intersection_size, left_sums (a,), right_sums (b,) (the sums only if values given).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys, require
from mpc_compute.algorithms.oblivious import same_id_ahead, shift_up, sort_rows, tagged_keys

NAME = "psi_stats"
VERSION = "1.0.0"
DESCRIPTION = "Intersection size of two secret ID sets and column sums over the intersection (sort-based)."
ROLES = (
    Role("left_ids", "data", False, "(n,) int64 hashed IDs of the first party", use="join_key"),
    Role("right_ids", "data", False, "(m,) int64 hashed IDs of the second party", use="join_key"),
    Role("left_values", "data", False, "(n, a) floats aligned with left_ids", optional=True),
    Role("right_values", "data", False, "(m, b) floats aligned with right_ids", optional=True),
)
OUTPUTS = ("released", "intersection_size", "left_sums", "right_sums")
RECEIVER = "buyer"
GROUP_FLOOR_PARAM = "min_intersection"
PARAMS_DOC = {"min_intersection": "release nothing (zeros, released=0) below this intersection size"}


def _by_name(specs: list[InputSpec]) -> dict[str, InputSpec]:
    return {s.name: s for s in specs}


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, {"min_intersection"}, NAME)
    by = _by_name(specs)
    for side in ("left", "right"):
        ids = by[f"{side}_ids"]
        if len(ids.shape) != 1 or ids.shape[0] < 1 or ids.dtype != "int64":
            raise InvalidInputs(f"{NAME}: {side}_ids must be a non-empty (n,) int64 array, got {ids}")
        values = by.get(f"{side}_values")
        if values is not None and (
            len(values.shape) != 2 or values.shape[0] != ids.shape[0] or not values.dtype.startswith("float")
        ):
            raise InvalidInputs(f"{NAME}: {side}_values must be ({ids.shape[0]}, k) floats, got {values}")
    min_inter = int(params.get("min_intersection", 0))
    require(min_inter >= 0, f"{NAME}: min_intersection must be >= 0")
    return {"min_intersection": min_inter}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]
    by = _by_name(specs)
    a = by["left_values"].shape[1] if "left_values" in by else 0
    b = by["right_values"].shape[1] if "right_values" in by else 0
    n, m = by["left_ids"].shape[0], by["right_ids"].shape[0]
    min_inter = params["min_intersection"]

    def psi_stats(*args):
        x = dict(zip(order, args, strict=True))
        keys = jnp.concatenate([tagged_keys(x["left_ids"], 0), tagged_keys(x["right_ids"], 1)])
        is_left = jnp.concatenate([jnp.ones((n,), jnp.float32), jnp.zeros((m,), jnp.float32)])
        cols = []
        if a:
            lv = x["left_values"].astype(jnp.float32)
            cols += [jnp.concatenate([lv[:, j], jnp.zeros((m,), jnp.float32)]) for j in range(a)]
        if b:
            rv = x["right_values"].astype(jnp.float32)
            cols += [jnp.concatenate([jnp.zeros((n,), jnp.float32), rv[:, j]]) for j in range(b)]
        sorted_all = sort_rows(keys, is_left, *cols)
        skeys, s_left = sorted_all[0], sorted_all[1]
        # a left row followed by a right row with the same ID (left tag 0 sorts first)
        match = same_id_ahead(skeys, 1) * s_left
        size = jnp.sum(match)
        released = (size >= min_inter).astype(jnp.float32)
        outs = [released, size * released]
        if a:
            outs.append(jnp.stack([jnp.sum(match * sorted_all[2 + j]) for j in range(a)]) * released)
        if b:
            outs.append(
                jnp.stack([jnp.sum(match * shift_up(sorted_all[2 + a + j], 1)) for j in range(b)]) * released
            )
        return tuple(outs)

    names = ("released", "intersection_size") + (("left_sums",) if a else ()) + (("right_sums",) if b else ())
    return Build(psi_stats, names)


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    left, right = inputs["left_ids"], inputs["right_ids"]
    common = np.intersect1d(left, right)
    released = float(len(common) >= int(params.get("min_intersection", 0)))
    out = {"released": released, "intersection_size": len(common) * released}
    if "left_values" in inputs:
        out["left_sums"] = inputs["left_values"][np.isin(left, common)].sum(axis=0) * released
    if "right_values" in inputs:
        out["right_sums"] = inputs["right_values"][np.isin(right, common)].sum(axis=0) * released
    return out
