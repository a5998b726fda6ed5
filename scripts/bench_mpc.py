"""Benchmark of the algorithm library on three real SPU party processes against plaintext numpy.

    .venv/bin/python scripts/bench_mpc.py [--quick] [--only NAME] [--json]

For each algorithm: MPC run time (slowest party, link setup included), compile and sharing time,
plaintext numpy time of the same computation, their ratio, peak RSS per party process, and the
accuracy against the exact float64 computation: the true statistics, the true logistic function for
scores (max error on the probability scale, must be < 1e-3), and for LR sklearn's LogisticRegression
with the same regularization, fitted in the same run (held-out AUC within 0.005, time ratio printed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mpc_compute import spu_runtime
from mpc_compute.algorithms import (
    blacklist_match,
    compile_program,
    joint_stats,
    logreg_train,
    multi_lender,
    psi_stats,
)
from mpc_compute.algorithms.fixed_point import sigmoid_exact
from tests.fixtures.local_parties import LocalJobError, LocalParties

FULL = {
    "joint_stats": {"rows": 1_000_000, "cols": 8},
    "psi_stats": {"left": 10_000, "right": 100_000},
    "multi_lender": {"applicants": 10_000, "lenders": 3, "book": 30_000},
    "logreg_train": {"rows": 50_000, "cols": 20, "iterations": 30},
    "secret_model_score": {"rows": 1_000_000, "cols": 20},
    "blacklist_match": {"queries": 1_000, "listed": 100_000},
    "overhead_1k": {"rows": 1_000, "cols": 8},
}
QUICK = {
    "joint_stats": {"rows": 20_000, "cols": 8},
    "psi_stats": {"left": 1_000, "right": 5_000},
    "multi_lender": {"applicants": 1_000, "lenders": 3, "book": 2_000},
    "logreg_train": {"rows": 5_000, "cols": 20, "iterations": 20},
    "secret_model_score": {"rows": 20_000, "cols": 20},
    "blacklist_match": {"queries": 200, "listed": 5_000},
    "overhead_1k": {"rows": 1_000, "cols": 8},
}


@dataclass
class Case:
    """One benchmark: inputs, public parameters, the numpy oracle, and an accuracy check."""

    algorithm: str
    inputs: dict[str, np.ndarray]
    params: dict[str, Any]
    oracle: Callable[[], dict[str, Any]]
    check: Callable[[dict[str, np.ndarray], dict[str, Any]], tuple[bool, str]]
    extra: dict[str, Any] = field(default_factory=dict)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def close(got: dict, want: dict, rtol: float, atol: float) -> tuple[bool, str]:
    worst = 0.0
    ok = True
    for name, value in want.items():
        g, w = np.asarray(got[name], np.float64), np.asarray(value, np.float64)
        ok &= bool(np.allclose(g, w, rtol=rtol, atol=atol))
        worst = max(worst, float(np.max(np.abs(g - w) / (atol + rtol * np.abs(w)))) if w.size else 0.0)
    return ok, f"max err / tolerance = {worst:.3f} (rtol {rtol}, atol {atol})"


def ids(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.unique(rng.integers(0, 2**63 - 1, size=int(n * 1.01) + 10, dtype=np.int64))
    return rng.permutation(out)[:n]


def probe_ids(rng: np.random.Generator, pool: np.ndarray, n_members: int, n: int, hits: int) -> np.ndarray:
    """`n` ids in random order: `hits` drawn from the members `pool[:n_members]`, the rest from past them."""
    members = pool[:n_members]
    return rng.permutation(
        np.concatenate([rng.choice(members, hits, replace=False), pool[n_members:][: n - hits]])
    )


def oracle_case(
    algorithm: str, module: ModuleType, inputs: dict[str, np.ndarray], params: dict, rtol: float, atol: float
) -> Case:
    """A case whose oracle is the algorithm module's own `plaintext` and whose check is `close`."""
    return Case(
        algorithm,
        inputs,
        params,
        lambda: module.plaintext(inputs, params),
        lambda got, want: close(got, want, rtol, atol),
    )


def case_joint_stats(size: dict, rng: np.random.Generator) -> Case:
    rows, cols = size["rows"], size["cols"]
    half = rows // 2
    parts = [rng.normal(50, 15, size=(n, cols)).astype(np.float32) for n in (half, rows - half)]
    params = {
        "hist_edges": {0: [0, 25, 50, 75, 100]},
        "cohort": {"column": 1, "min": 20.0, "max": 80.0},
        "min_cohort": 100,
    }
    inputs = {"data_0": parts[0], "data_1": parts[1]}
    return Case(
        "joint_stats",
        inputs,
        params,
        lambda: joint_stats.plaintext(parts, params),
        lambda got, want: close(got, want, 1e-4, 1e-2),
    )


def case_overhead(size: dict, rng: np.random.Generator) -> Case:
    case = case_joint_stats(size, rng)
    case.extra["label"] = "overhead_1k"
    return case


def case_psi(size: dict, rng: np.random.Generator) -> Case:
    pool = ids(rng, size["right"] + size["left"] // 2)
    right = pool[: size["right"]]
    left = probe_ids(rng, pool, size["right"], size["left"], size["left"] // 2)
    inputs = {
        "left_ids": left,
        "right_ids": right,
        "left_values": rng.uniform(0, 1000, size=(len(left), 1)).astype(np.float32),
        "right_values": rng.uniform(0, 100, size=(len(right), 1)).astype(np.float32),
    }
    return oracle_case("psi_stats", psi_stats, inputs, {}, 1e-4, 1e-2)


def case_multi_lender(size: dict, rng: np.random.Generator) -> Case:
    pool = ids(rng, size["applicants"] + size["book"] * 2)
    applicants = pool[: size["applicants"]]
    inputs: dict[str, np.ndarray] = {"applicants": applicants}
    for k in range(size["lenders"]):
        book = np.unique(
            np.concatenate(
                [
                    rng.choice(applicants, size["applicants"] // 3, replace=False),
                    rng.choice(pool, size["book"], replace=False),
                ]
            )
        )[: size["book"]]
        inputs[f"loan_ids_{k}"] = rng.permutation(book)
        inputs[f"loan_amounts_{k}"] = rng.uniform(1_000, 50_000, size=len(book)).astype(np.float32)
    return oracle_case("multi_lender", multi_lender, inputs, {}, 1e-4, 1e-1)


def case_logreg(size: dict, rng: np.random.Generator) -> Case:
    n, d = size["rows"], size["cols"]
    held = max(n // 5, 1000)
    X = rng.normal(size=(n + held, d)).astype(np.float32)
    w_true = rng.normal(size=d) * 0.5
    y = (rng.uniform(size=n + held) < sigmoid_exact(X @ w_true - 0.3)).astype(np.float32)
    Xt, yt, Xh, yh = X[:n], y[:n], X[n:], y[n:]
    inputs = {"features_0": Xt[:, : d // 2], "features_1": Xt[:, d // 2 :], "labels_0": yt}
    l2 = 0.001
    params = {"mode": "vertical", "iterations": size["iterations"], "learning_rate": 1.0, "l2": l2}

    def oracle() -> dict[str, Any]:
        # the model a user means: sklearn at the same penalty (mean log-loss + l2/2 |w|^2)
        # (timed alone: the printed ratio is MPC time over sklearn's fit)
        sk = LogisticRegression(C=1.0 / (n * l2), tol=1e-8, max_iter=10_000).fit(Xt, yt)
        return {"weights": sk.coef_[0], "bias": float(sk.intercept_[0])}

    def check(got: dict, want: dict) -> tuple[bool, str]:
        a_mpc = auc(Xh @ got["weights"] + got["bias"], yh)
        a_sk = auc(Xh @ want["weights"] + want["bias"], yh)
        diff = abs(a_mpc - a_sk)
        w_sk = float(np.max(np.abs(got["weights"] - want["weights"])))
        gd = logreg_train.plaintext(inputs, params)  # float64, exact logistic, the same steps
        w_gd = float(np.max(np.abs(got["weights"] - gd["weights"])))
        return (
            diff < 0.005,
            f"held-out AUC mpc {a_mpc:.4f} vs sklearn {a_sk:.4f} (diff {diff:.4f}); "
            f"max |dw| vs float64 GD {w_gd:.4f}, vs sklearn {w_sk:.3f}",
        )

    return Case("logreg_train", inputs, params, oracle, check)


def case_scoring(size: dict, rng: np.random.Generator) -> Case:
    n, d = size["rows"], size["cols"]
    X = rng.normal(size=(n, d)).astype(np.float32)
    # weights large enough that z spans about [-20, 20] on a million rows
    model = np.concatenate([rng.normal(size=d) * 1.2, [-0.2]]).astype(np.float32)
    inputs = {"model": model, "features_0": X[:, : d // 2], "features_1": X[:, d // 2 :]}
    scale, offset = 550.0, 300.0
    params = {"link": "logistic", "scale": scale, "offset": offset}

    def oracle() -> dict[str, Any]:
        z = X.astype(np.float64) @ model[:-1].astype(np.float64) + float(model[-1])
        return {"p": sigmoid_exact(z), "z": z}

    def check(got: dict, want: dict) -> tuple[bool, str]:
        p = (np.asarray(got["scores"], np.float64) - offset) / scale
        err = np.abs(p - want["p"])
        inside = np.abs(want["z"]) <= 20
        worst = float(err[inside].max())
        return (
            worst < 1e-3,
            f"max |p - true logistic| {worst:.2e} for |z| <= 20 ({worst * scale:.3f} points on 550; "
            f"|z| up to {float(np.abs(want['z']).max()):.1f}, {int(inside.sum())} rows)",
        )

    return Case("secret_model_score", inputs, params, oracle, check)


def case_blacklist(size: dict, rng: np.random.Generator) -> Case:
    pool = ids(rng, size["listed"] + size["queries"])
    listed = pool[: size["listed"]]
    queries = probe_ids(rng, pool, size["listed"], size["queries"], size["queries"] // 10)
    inputs = {"queries": queries, "blacklist": listed}
    return oracle_case("blacklist_match", blacklist_match, inputs, {}, 0.0, 1e-6)


BUILDERS: dict[str, Callable[[dict, np.random.Generator], Case]] = {
    "joint_stats": case_joint_stats,
    "psi_stats": case_psi,
    "multi_lender": case_multi_lender,
    "logreg_train": case_logreg,
    "secret_model_score": case_scoring,
    "blacklist_match": case_blacklist,
    "overhead_1k": case_overhead,
}


def run_case(label: str, case: Case) -> dict[str, Any]:
    t0 = time.perf_counter()
    program = compile_program(
        case.algorithm, [(k, v.shape, v.dtype) for k, v in case.inputs.items()], case.params
    )
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_rank: list[dict[str, bytes]] = [{}, {}, {}]
    for name, array in case.inputs.items():
        for rank, share in enumerate(spu_runtime.make_shares(array)):
            per_rank[rank][name] = share
    share_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcomes = LocalParties().run_outcomes([program] * 3, per_rank, timeout=3600)
    wall_s = time.perf_counter() - t0
    errors = {o.rank: o.error for o in outcomes if o.error is not None}
    if errors:
        raise LocalJobError(errors)
    got = {
        name: np.asarray(spu_runtime.reconstruct([o.outputs[name] for o in outcomes]))
        for name in program.output_names
    }
    t0 = time.perf_counter()
    want = case.oracle()
    plain_s = time.perf_counter() - t0
    ok, detail = case.check(got, want)
    mpc_s = max(o.seconds for o in outcomes)
    return {
        "name": label,
        "algorithm": case.algorithm,
        "shapes": {k: list(v.shape) for k, v in case.inputs.items()},
        "mpc_s": round(mpc_s, 3),
        "wall_s": round(wall_s, 3),
        "compile_s": round(compile_s, 3),
        "share_s": round(share_s, 3),
        "plain_s": round(plain_s, 4),
        "ratio": round(mpc_s / max(plain_s, 1e-6), 1),
        "total_1k_s": round(compile_s + share_s + wall_s, 3),
        "peak_rss_mb": [round(o.peak_rss_kb / 1024) for o in outcomes],
        "accurate": ok,
        "accuracy": detail,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    parser.add_argument("--only", choices=sorted(BUILDERS), action="append", help="run only this case")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    results = []
    for label in args.only or list(BUILDERS):
        case = BUILDERS[label](sizes[label], np.random.default_rng(2026))
        result = run_case(label, case)
        results.append(result)
        if not args.json:
            print(
                f"{label:<19} mpc {result['mpc_s']:>8.2f}s  plain {result['plain_s']:>8.4f}s  "
                f"x{result['ratio']:<9} compile {result['compile_s']:>5.2f}s  "
                f"share {result['share_s']:>6.2f}s  "
                f"rss/party MB {result['peak_rss_mb']}  {'OK' if result['accurate'] else 'INACCURATE'}: "
                f"{result['accuracy']}",
                flush=True,
            )
    overhead = next((r for r in results if r["name"] == "overhead_1k"), None)
    if overhead and not args.json:
        print(
            "fixed overhead of a 1k-row job (compile + share + link setup + run): "
            f"{overhead['total_1k_s']:.2f}s"
        )
    if args.json:
        print(
            json.dumps(
                {"sizes": {r["name"]: sizes[r["name"]] for r in results}, "results": results}, indent=2
            )
        )
    return 0 if all(r["accurate"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
