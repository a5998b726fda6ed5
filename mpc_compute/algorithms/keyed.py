"""Keyed vertical inputs: the buyer's `applicants` and each table's `ids_k` keying its `features_k`.

What logreg_train and secret_model_score share in keyed mode: the role of a table's IDs, the order of
numbered inputs, the shape checks, and the (ids, values) pairs oblivious.align joins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mpc_compute.algorithms.base import InputSpec, InvalidInputs, Role
from mpc_compute.algorithms.oblivious import MAX_TABLES

TABLE_IDS = Role(
    "ids",
    "data",
    True,
    "(m_k,) int64 hashed IDs of features_k's rows, in its owner's order (keyed)",
    optional=True,
    use="join_key",
)


def numbered(names: Iterable[str], prefix: str) -> list[str]:
    """The names `<prefix><k>` in order of k (features_0, features_1, ..., features_10)."""
    return sorted((n for n in names if n.startswith(prefix)), key=lambda n: int(n.rsplit("_", 1)[1]))


def is_keyed(names: Iterable[str]) -> bool:
    names = list(names)
    return "applicants" in names or any(n.startswith("ids_") for n in names)


def check_keyed(algorithm: str, by: dict[str, InputSpec]) -> int:
    """Refuse ill-shaped keyed inputs (InvalidInputs, saying what is wrong); returns the applicants' count."""
    app = by.get("applicants")
    if app is None or len(app.shape) != 1 or app.shape[0] < 1 or app.dtype != "int64":
        raise InvalidInputs(
            f"{algorithm}: keyed mode needs applicants, a non-empty (n,) int64 array, got {app}"
        )
    feats = [by[n] for n in numbered(by, "features_")]
    ks = [int(s.name.rsplit("_", 1)[1]) for s in feats]
    id_ks = [int(n.rsplit("_", 1)[1]) for n in numbered(by, "ids_")]
    if ks != id_ks or not 1 <= len(ks) <= MAX_TABLES:
        raise InvalidInputs(
            f"{algorithm}: keyed mode needs ids_k for each features_k (1..{MAX_TABLES} tables), got "
            f"features {ks}, ids {id_ks}"
        )
    for k, f in zip(ks, feats, strict=True):
        ids = by[f"ids_{k}"]
        if len(ids.shape) != 1 or ids.dtype != "int64" or ids.shape[0] != f.shape[0]:
            raise InvalidInputs(
                f"{algorithm}: ids_{k} must be ({f.shape[0]},) int64 like features_{k}, got {ids}"
            )
    return app.shape[0]


def tables(inputs: Mapping[str, Any], features: list[Any] | None = None) -> list[tuple[Any, Any]]:
    """[(ids_k, features_k)] in order of k; `features` replaces the inputs' own (e.g. cast to float32)."""
    names = numbered(inputs, "features_")
    values = features if features is not None else [inputs[n] for n in names]
    return [(inputs[f"ids_{n.rsplit('_', 1)[1]}"], v) for n, v in zip(names, values, strict=True)]
