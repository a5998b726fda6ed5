"""blacklist_match: which of a buyer's query IDs are on a provider's list (anonymous query).

Inputs: `queries` (n,) int64 (the buyer's, unique) and `blacklist` (m,) int64 (the provider's, unique),
both from oblivious.id_to_field. Output `member` (n,): 1.0 where the query is listed, in query order.
The buyer learns only these bits; the provider learns nothing (it receives no output); the nodes see
neither list. Method: oblivious.lookup with one table (two sorts of n + m rows, one comparison each).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys
from mpc_compute.algorithms.oblivious import lookup

NAME = "blacklist_match"
VERSION = "1.0.0"
DESCRIPTION = "Which of the buyer's query IDs are on a provider's list; the buyer learns only those bits."
ROLES = (
    Role("queries", "query", False, "(n,) int64 hashed IDs the buyer asks about", use="query"),
    Role("blacklist", "data", False, "(m,) int64 hashed IDs on the provider's list", use="join_key"),
)
OUTPUTS = ("member",)
RECEIVER = "buyer"
PARAMS_DOC: dict[str, str] = {}


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, set(), NAME)
    for spec in specs:
        if len(spec.shape) != 1 or spec.shape[0] < 1 or spec.dtype != "int64":
            raise InvalidInputs(f"{NAME}: {spec.name} must be a non-empty (n,) int64 array, got {spec}")
    return {}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]

    def blacklist_match(*args):
        x = dict(zip(order, args, strict=True))
        member, _ = lookup(x["queries"], [(x["blacklist"], None)], with_values=False)
        return (member,)

    return Build(blacklist_match, ("member",))


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    return {"member": np.isin(inputs["queries"], inputs["blacklist"]).astype(np.float64)}
