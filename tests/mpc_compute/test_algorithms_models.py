"""Model programs (logreg_train, secret_model_score) on three real SPU processes, and the registry.

Tolerances (FM64, 18 fraction bits): LR weights within 0.02 of float64 gradient descent run with the
same polynomial sigmoid, and AUC within 0.01 of exact-sigmoid float64 training; scores within 1e-3 of
the same formula in float64 (times the public scale).
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pytest

from mpc_compute.algorithms import (
    ALGORITHMS,
    InvalidInputs,
    InvalidParams,
    compile_program,
    logreg_train,
    secret_model_score,
)

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
    X = rng.normal(size=(2000, 6)).astype(np.float32)
    w = np.array([0.8, -1.2, 0.5, 0.0, 1.0, -0.4])
    y = (rng.uniform(size=2000) < 1 / (1 + np.exp(-(X @ w - 0.5)))).astype(np.float32)
    return X, y


@pytest.mark.parametrize("mode", ["vertical", "horizontal"])
def test_logreg_matches_float_training(run_job, credit_data, mode):
    X, y = credit_data
    if mode == "vertical":
        inputs = {"features_0": X[:, :2], "features_1": X[:, 2:], "labels_0": y}
    else:
        inputs = {"features_0": X[:1200], "features_1": X[1200:], "labels_0": y[:1200], "labels_1": y[1200:]}
    params = {"mode": mode, "iterations": 20, "learning_rate": 1.0, "l2": 0.01}
    got = run_job(compile_for("logreg_train", inputs, params), inputs)
    same_poly = logreg_train.plaintext(inputs, params, exact_sigmoid=False)
    exact = logreg_train.plaintext(inputs, params)
    np.testing.assert_allclose(got["weights"], same_poly["weights"], atol=0.02)
    assert abs(float(got["bias"]) - same_poly["bias"]) < 0.02
    assert abs(auc(X @ got["weights"] + got["bias"], y) - auc(X @ exact["weights"] + exact["bias"], y)) < 0.01


CREDIT = {"link": "logistic", "scale": 550.0, "offset": 300.0}


@pytest.mark.parametrize("params", [CREDIT, {"link": "linear"}])
def test_secret_model_scores(run_job, credit_data, params):
    X, _ = credit_data
    model = np.array([0.8, -1.2, 0.5, 0.0, 1.0, -0.4, -0.5], dtype=np.float32)
    inputs = {"model": model, "features_0": X[:500, :4], "features_1": X[:500, 4:]}
    got = run_job(compile_for("secret_model_score", inputs, params), inputs)
    want = secret_model_score.plaintext(inputs, params)["scores"]
    np.testing.assert_allclose(got["scores"], want, atol=1e-3 * params.get("scale", 1.0))


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
