"""Model programs (logreg_train, secret_model_score) on three real SPU processes, and the registry.

Every oracle is the exact float64 computation (FM64, 18 fraction bits in the programs): LR weights and
bias within 0.01 of float64 gradient descent with the exact logistic and the same steps, and held-out
AUC within 0.005 of sklearn's LogisticRegression with the same regularization (C = 1 / (n * l2));
scores within 2e-4 of the true logistic model on the probability scale for |z| up to 20 (times the
public scale: 0.11 points on a 550-point credit scale).
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mpc_compute.algorithms import (
    ALGORITHMS,
    InvalidInputs,
    InvalidParams,
    compile_program,
    logreg_train,
)
from mpc_compute.algorithms.fixed_point import sigmoid_exact

pytestmark = pytest.mark.mpc


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores)] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def compile_for(name, inputs, params):
    return compile_program(name, [(k, v.shape, v.dtype) for k, v in inputs.items()], params)


@pytest.fixture(scope="module")
def credit_data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 6)).astype(np.float32)
    w = np.array([0.8, -1.2, 0.5, 0.0, 1.0, -0.4])
    y = (rng.uniform(size=3000) < sigmoid_exact(X @ w - 0.5)).astype(np.float32)
    return X, y


@pytest.mark.parametrize("mode", ["vertical", "horizontal"])
def test_logreg_matches_float_training_and_sklearn(run_job, credit_data, mode):
    X, y = credit_data
    Xt, yt, Xh, yh = X[:2000], y[:2000], X[2000:], y[2000:]  # held-out rows for the AUC
    if mode == "vertical":
        inputs = {"features_0": Xt[:, :2], "features_1": Xt[:, 2:], "labels_0": yt}
    else:
        inputs = {"features_0": Xt[:1200], "features_1": Xt[1200:],
                  "labels_0": yt[:1200], "labels_1": yt[1200:]}
    l2 = 0.01
    params = {"mode": mode, "iterations": 30, "learning_rate": 1.0, "l2": l2}
    got = run_job(compile_for("logreg_train", inputs, params), inputs)
    exact = logreg_train.plaintext(inputs, params)
    np.testing.assert_allclose(got["weights"], exact["weights"], atol=0.01)
    assert abs(float(got["bias"]) - exact["bias"]) < 0.01
    sk = LogisticRegression(C=1.0 / (len(yt) * l2), tol=1e-10, max_iter=10_000).fit(Xt, yt)
    auc_mpc = auc(Xh @ got["weights"] + got["bias"], yh)
    auc_sk = auc(sk.decision_function(Xh), yh)
    assert abs(auc_mpc - auc_sk) < 0.005, f"held-out AUC {auc_mpc:.4f} vs sklearn {auc_sk:.4f}"


CREDIT = {"link": "logistic", "scale": 550.0, "offset": 300.0}


@pytest.mark.parametrize("params", [CREDIT, {"link": "linear"}])
def test_secret_model_scores_against_the_true_logistic(run_job, credit_data, params):
    X, _ = credit_data
    # weights large enough that z = x . w + b spans about [-20, 20], where the old polynomial was 0.06 off
    model = np.array([3.0, -4.0, 2.0, 0.0, 3.5, -1.5, -0.5], dtype=np.float32)
    inputs = {"model": model, "features_0": X[:500, :4], "features_1": X[:500, 4:]}
    got = run_job(compile_for("secret_model_score", inputs, params), inputs)
    z = X[:500].astype(np.float64) @ model[:-1] + model[-1]
    assert np.abs(z).max() > 15
    link = sigmoid_exact(z) if params.get("link") == "logistic" else z
    want = params.get("offset", 0.0) + params.get("scale", 1.0) * link
    np.testing.assert_allclose(got["scores"], want, rtol=0, atol=2e-4 * params.get("scale", 1.0))


def test_model_programs_validate_parameters():
    spec = [("features_0", (10, 3), "float32"), ("labels_0", (10,), "float32")]
    with pytest.raises(InvalidParams, match=r"iterations must be in 1\.\.500"):
        compile_program("logreg_train", spec, {"iterations": 0})
    with pytest.raises(InvalidInputs, match="one labels input"):
        compile_program("logreg_train", [*spec, ("labels_1", (10,), "float32")], {"mode": "vertical"})
    with pytest.raises(InvalidInputs, match="model must be \\(4,\\)"):
        compile_program("secret_model_score", [("model", (3,), "float32"), spec[0]], {})
    with pytest.raises(InvalidParams, match="link must be"):
        compile_program("secret_model_score", [("model", (4,), "float32"), spec[0]], {"link": "probit"})


def test_registry_metadata_and_code_hash():
    assert set(ALGORITHMS) == {
        "joint_stats",
        "psi_stats",
        "multi_lender",
        "logreg_train",
        "secret_model_score",
        "blacklist_match",
    }
    for algorithm in ALGORITHMS.values():
        source = inspect.getsource(algorithm.module)
        tag = f"{algorithm.name}@{algorithm.version}\0".encode()
        expected = hashlib.sha256(tag + source.encode()).digest()
        assert algorithm.code_hash == expected and len(algorithm.code_hash) == 32
        assert algorithm.roles and algorithm.outputs and algorithm.description
    assert len({a.code_hash for a in ALGORITHMS.values()}) == len(ALGORITHMS)
