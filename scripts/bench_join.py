"""Benchmark of keyed vertical training and scoring (the ID join inside MPC) on three real SPU processes.

    .venv/bin/python scripts/bench_join.py [--quick] [--only train|score] [--json]

train: a bank's applicants (IDs and labels, its own order) against two providers' tables of their own IDs
(10 feature columns each, each holding a different 90% of the population), logistic regression keyed by
ID. score: a secret model over the same tables for 1M applicants. For each, in the same run: the keyed
program, the positional program on rows pre-aligned in plaintext (what the old applicant panels did,
the naive approach that hands the bank's list to the providers), and plaintext numpy / sklearn on the
plaintext join. Prints time (slowest party), peak RSS per party, the keyed / positional ratio, and the
accuracy: held-out AUC against sklearn on the plaintext join (within 0.005), scores against the true
logistic model (max error on the probability scale, < 1e-3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_mpc import Case, auc, ids, run_case

from mpc_compute.algorithms import logreg_train, secret_model_score
from mpc_compute.algorithms.fixed_point import sigmoid_exact

FULL = {
    "train": {
        "applicants": 50_000,
        "held": 20_000,
        "population": 1_100_000,
        "table": 1_000_000,
        "iterations": 30,
    },
    "score": {"applicants": 1_000_000, "population": 1_100_000, "table": 1_000_000},
}
QUICK = {
    "train": {"applicants": 3_000, "held": 5_000, "population": 22_000, "table": 20_000, "iterations": 20},
    "score": {"applicants": 20_000, "population": 22_000, "table": 20_000},
}
COLS = 10  # per provider


def world(size: dict, rng: np.random.Generator) -> dict[str, Any]:
    pop = size["population"]
    key = ids(rng, pop)
    X = rng.normal(size=(pop, 2 * COLS)).astype(np.float32)
    truth = rng.normal(size=2 * COLS) * 0.6
    y = (rng.uniform(size=pop) < sigmoid_exact(X @ truth - 0.3)).astype(np.float32)
    tables = [rng.permutation(pop)[: size["table"]] for _ in range(2)]  # each provider's rows, own order
    return {"key": key, "X": X, "y": y, "tables": tables}


def keyed_inputs(w: dict, applicants: np.ndarray) -> dict[str, np.ndarray]:
    inputs = {"applicants": w["key"][applicants]}
    for k, rows in enumerate(w["tables"]):
        inputs[f"features_{k}"] = w["X"][rows, k * COLS : (k + 1) * COLS]
        inputs[f"ids_{k}"] = w["key"][rows]
    return inputs


def joined(w: dict, applicants: np.ndarray) -> np.ndarray:
    keep = np.ones(len(applicants), dtype=bool)
    for rows in w["tables"]:
        keep &= np.isin(applicants, rows)
    return applicants[keep]


def train_cases(size: dict, rng: np.random.Generator) -> list[tuple[str, Case]]:
    w = world(size, rng)
    applicants = rng.choice(size["population"], size["applicants"] + size["held"], replace=False)
    train, held = applicants[: size["applicants"]], applicants[size["applicants"] :]
    params = {"mode": "vertical", "iterations": size["iterations"], "learning_rate": 1.0, "min_rows": 10}
    keyed = {**keyed_inputs(w, train), "labels_0": w["y"][train]}
    rows = joined(w, train)
    aligned = {"features_0": w["X"][rows, :COLS], "features_1": w["X"][rows, COLS:], "labels_0": w["y"][rows]}

    def oracle() -> dict[str, Any]:
        # the plaintext join, then sklearn on it (timed together: the printed plain time)
        on = joined(w, train)
        sk = LogisticRegression(C=np.inf, tol=1e-8, max_iter=10_000).fit(w["X"][on], w["y"][on])
        return {"weights": sk.coef_[0], "bias": float(sk.intercept_[0])}

    def check(got: dict, want: dict) -> tuple[bool, str]:
        Xh, yh = w["X"][held], w["y"][held]
        a_mpc, a_sk = auc(Xh @ got["weights"] + got["bias"], yh), auc(Xh @ want["weights"] + want["bias"], yh)
        gd = logreg_train.plaintext(aligned, params)
        dw = float(np.max(np.abs(got["weights"] - gd["weights"])))
        n_ok = "rows" not in got or round(float(got["rows"])) == len(rows)
        return (
            abs(a_mpc - a_sk) < 0.005 and n_ok,
            f"held-out AUC mpc {a_mpc:.4f} vs sklearn {a_sk:.4f}; max |dw| vs float64 GD {dw:.4f}; "
            f"{len(rows)} of {len(train)} applicants joined",
        )

    return [
        ("train keyed", Case("logreg_train", keyed, params, oracle, check)),
        ("train positional", Case("logreg_train", aligned, params, oracle, check)),
    ]


def score_cases(size: dict, rng: np.random.Generator) -> list[tuple[str, Case]]:
    w = world(size, rng)
    applicants = rng.choice(size["population"], size["applicants"], replace=False)
    model = np.concatenate([rng.normal(size=2 * COLS) * 1.2, [-0.2]]).astype(np.float32)
    params = {"link": "logistic", "scale": 550.0, "offset": 300.0}
    keyed = {"model": model, **keyed_inputs(w, applicants)}
    present = [np.isin(applicants, rows) for rows in w["tables"]]
    Xj = w["X"][applicants].astype(np.float64)
    Xj[~present[0], :COLS], Xj[~present[1], COLS:] = 0, 0  # unmatched=impute: a missing table's features 0
    aligned = {
        "model": model,
        "features_0": Xj[:, :COLS].astype(np.float32),
        "features_1": Xj[:, COLS:].astype(np.float32),
    }

    def oracle() -> dict[str, Any]:
        # the plaintext join (a dict per table) and the exact model, timed together
        return secret_model_score.plaintext(keyed, params)

    exact = 300 + 550 * sigmoid_exact(Xj @ model[:-1].astype(np.float64) + float(model[-1]))

    def check(got: dict, want: dict) -> tuple[bool, str]:
        err = max(float(np.max(np.abs(got["scores"] - w_))) for w_ in (want["scores"], exact)) / 550
        return err < 1e-3, f"max error {err:.2e} on the probability scale over {len(applicants)} applicants"

    return [
        ("score keyed", Case("secret_model_score", keyed, params, oracle, check)),
        ("score positional", Case("secret_model_score", aligned, params, oracle, check)),
    ]


BUILDERS = {"train": train_cases, "score": score_cases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--only", choices=sorted(BUILDERS), action="append", help="run only this case")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--table", type=int, help="rows of each provider's table (population +10%%)")
    parser.add_argument("--applicants", type=int, help="applicants to train on or to score")
    args = parser.parse_args(argv)
    sizes = {k: dict(v) for k, v in (QUICK if args.quick else FULL).items()}
    for size in sizes.values():
        if args.table:
            size["table"], size["population"] = args.table, args.table + args.table // 10
        if args.applicants:
            size["applicants"] = args.applicants
    results = []
    for name in args.only or list(BUILDERS):
        pair = []
        for label, case in BUILDERS[name](sizes[name], np.random.default_rng(2026)):
            t0 = time.perf_counter()
            result = {**run_case(label, case), "bench_wall_s": round(time.perf_counter() - t0, 1)}
            pair.append(result)
            if not args.json:
                print(
                    f"{label:<17} mpc {result['mpc_s']:>8.2f}s  plain {result['plain_s']:>8.3f}s  "
                    f"rss/party MB {result['peak_rss_mb']}  {'OK' if result['accurate'] else 'INACCURATE'}: "
                    f"{result['accuracy']}",
                    flush=True,
                )
        ratio = pair[0]["mpc_s"] / max(pair[1]["mpc_s"], 1e-6)
        pair[0]["keyed_over_positional"] = round(ratio, 2)
        if not args.json:
            print(f"{name}: the join inside MPC costs x{ratio:.2f} the pre-aligned program", flush=True)
        results += pair
    if args.json:
        print(
            json.dumps({"sizes": {k: sizes[k] for k in args.only or BUILDERS}, "results": results}, indent=2)
        )
    return 0 if all(r["accurate"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
