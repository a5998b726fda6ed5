"""Keyed vertical training and scoring: each party's table in its own order, with its own ID set, joined
inside MPC (oblivious.align) on three real SPU processes.

Oracles are the exact computation on the plaintext join: float64 gradient descent with the exact
logistic and sklearn's LogisticRegression on the applicants found in every table (held-out AUC within
0.005), and the true logistic model on each applicant's joined features (2e-4 on the probability scale).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mpc_compute.algorithms import (
    InvalidInputs,
    InvalidParams,
    compile_program,
    logreg_train,
    secret_model_score,
)
from mpc_compute.algorithms.fixed_point import sigmoid_exact
from mpc_compute.algorithms.oblivious import ID_BITS
from tests.mpc_compute.test_algorithms_models import auc, compile_for

pytestmark = pytest.mark.mpc


@pytest.fixture(scope="module")
def world():
    """A population of 4,000 entities; two providers each hold a different 90% of them, shuffled."""
    rng = np.random.default_rng(23)
    ids = np.unique(rng.integers(0, 2**ID_BITS, size=4200, dtype=np.int64))[:4000]
    X = rng.normal(size=(4000, 5))
    y = (rng.uniform(size=4000) < sigmoid_exact(X @ np.array([1.0, -1.5, 0.7, 0.9, -0.6]) - 0.3)).astype(
        float
    )
    tax = rng.permutation(4000)[:3600]  # provider 0: columns 0-2 of its 3,600 entities, its own order
    tel = rng.permutation(4000)[:3600]  # provider 1: columns 3-4
    return rng, ids, X, y, tax, tel


def keyed_inputs(world, applicants: np.ndarray) -> dict[str, np.ndarray]:
    _, ids, X, y, tax, tel = world
    return {
        "applicants": ids[applicants],
        "labels_0": y[applicants].astype(np.float32),
        "features_0": X[tax, :3].astype(np.float32),
        "ids_0": ids[tax],
        "features_1": X[tel, 3:].astype(np.float32),
        "ids_1": ids[tel],
    }


def test_keyed_training_matches_sklearn_on_the_plaintext_join(run_job, world):
    rng, _ids, X, y, tax, tel = world
    applicants = rng.permutation(4000)[:1500]  # the bank's applicants, in its own order
    train, held = applicants[:1200], applicants[1200:]
    inputs = keyed_inputs(world, train)
    params = {"mode": "vertical", "iterations": 40, "learning_rate": 1.0, "l2": 0.0, "min_rows": 50}
    got = run_job(compile_for("logreg_train", inputs, params), inputs)
    joined = np.isin(train, tax) & np.isin(train, tel)
    assert 0.75 < joined.mean() < 0.9  # about 81% of applicants are in both tables
    assert round(float(got["rows"])) == joined.sum()
    exact = logreg_train.plaintext(inputs, params)
    assert exact["rows"] == joined.sum()
    np.testing.assert_allclose(got["weights"], exact["weights"], atol=0.01)
    assert abs(float(got["bias"]) - exact["bias"]) < 0.01
    # the model a user means: sklearn, unregularized, on the rows the plaintext join keeps
    sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X[train[joined]], y[train[joined]])
    auc_mpc = auc(X[held] @ got["weights"] + got["bias"], y[held])
    auc_sk = auc(sk.decision_function(X[held]), y[held])
    assert abs(auc_mpc - auc_sk) < 0.005, f"held-out AUC {auc_mpc:.4f} vs sklearn {auc_sk:.4f}"


def test_keyed_training_below_min_rows_releases_nothing(run_job, world):
    rng, _ids, _X, _y, tax, tel = world
    outside = np.setdiff1d(np.arange(4000), np.intersect1d(tax, tel))
    applicants = np.concatenate([outside[:40], np.intersect1d(tax, tel)[:9]])  # 9 in both tables
    inputs = keyed_inputs(world, rng.permutation(applicants))
    params = {"iterations": 5, "min_rows": 10}
    got = run_job(compile_for("logreg_train", inputs, params), inputs)
    assert float(got["rows"]) == 0 and not np.any(got["weights"]) and float(got["bias"]) == 0
    assert logreg_train.plaintext(inputs, params)["rows"] == 0


MODEL = np.array([2.5, -3.0, 1.5, 3.0, -2.0, -0.5], dtype=np.float32)
CREDIT = {"link": "logistic", "scale": 550.0, "offset": 300.0}


@pytest.mark.parametrize("unmatched", ["impute", "flag"])
def test_keyed_scores_follow_the_applicants_order(run_job, world, unmatched):
    rng, _ids, X, _y, tax, tel = world
    applicants = rng.permutation(4000)[:700]
    inputs = {"model": MODEL, **{k: v for k, v in keyed_inputs(world, applicants).items() if k != "labels_0"}}
    params = {**CREDIT, "unmatched": unmatched}
    got = run_job(compile_for("secret_model_score", inputs, params), inputs)
    # the exact model on the plaintext join: a table's features are 0 where it lacks the applicant
    Xj = X[applicants].copy()
    Xj[~np.isin(applicants, tax), :3] = 0
    Xj[~np.isin(applicants, tel), 3:] = 0
    z = Xj @ MODEL[:-1].astype(np.float64) + MODEL[-1]
    assert np.abs(z).max() > 12
    want = 300 + 550 * sigmoid_exact(z)
    matched = np.isin(applicants, tax) & np.isin(applicants, tel)
    assert 0 < matched.sum() < len(applicants)
    if unmatched == "flag":
        np.testing.assert_array_equal(np.rint(got["matched"]), matched.astype(float))
        want = want * matched
    else:
        assert set(got) == {"scores"}  # nothing says which applicants a table lacks
    np.testing.assert_allclose(got["scores"], want, rtol=0, atol=2e-4 * 550)
    np.testing.assert_allclose(secret_model_score.plaintext(inputs, params)["scores"], want, atol=1e-3)


def test_keyed_programs_refuse_ill_formed_inputs():
    keyed = [
        ("applicants", (20,), "int64"),
        ("labels_0", (20,), "float32"),
        ("features_0", (30, 2), "float32"),
        ("ids_0", (30,), "int64"),
    ]
    with pytest.raises(InvalidInputs, match="ids_k for each features_k"):
        compile_program("logreg_train", [*keyed, ("features_1", (30, 1), "float32")], {})
    with pytest.raises(InvalidInputs, match=r"ids_0 must be \(30,\) int64"):
        compile_program("logreg_train", [*keyed[:3], ("ids_0", (29,), "int64")], {})
    with pytest.raises(InvalidParams, match="need mode 'vertical'"):
        compile_program("logreg_train", keyed, {"mode": "horizontal"})
    with pytest.raises(InvalidParams, match="fewer than min_rows 30"):
        compile_program(
            "logreg_train",
            [("features_0", (20, 2), "float32"), ("labels_0", (20,), "float32")],
            {"min_rows": 30},
        )
    score = [("model", (3,), "float32"), keyed[0], keyed[2], keyed[3]]
    with pytest.raises(InvalidParams, match="unmatched must be"):
        compile_program("secret_model_score", score, {"unmatched": "drop"})
    with pytest.raises(InvalidParams, match=r"keyed mode .* only"):
        compile_program("secret_model_score", [score[0], score[2]], {"unmatched": "flag"})
