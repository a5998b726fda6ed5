"""logreg_train: logistic regression by full-batch gradient descent on features split across providers.

mode "vertical": `features_<k>` (n, d_k) from several providers, same rows in the same order (joined
by a prior agreement on row order, e.g. a PSI), concatenated along columns; `labels_0` (n,) 0/1 from
the label holder. mode "horizontal": `features_<k>` (n_k, d) and `labels_<k>` (n_k,) per provider,
concatenated along rows. Public parameters: iterations, learning_rate, l2 (ridge on weights, not the
bias): the gradient of mean log-loss + l2/2 |w|^2, i.e. sklearn's LogisticRegression with
C = 1 / (n * l2) (penalty=None for l2 = 0). Outputs: weights (d,) and bias (). Features should be
standardized (|x| up to ~10) by the providers.

Accuracy (FM64, 18 fraction bits): the sigmoid is fixed_point.sigmoid (within 1e-4 of the exact
logistic), the steps lr / n are applied with 18 significant bits (fixed_point.mul_public), and each
matrix product is truncated once (n * |residual * x| < 1.3e8: n up to ~1e7 standardized rows). Tested:
weights and bias within 0.01 of float64 gradient descent with the exact sigmoid and the same steps
(plaintext()), and held-out AUC within 0.005 of sklearn's LogisticRegression at the same regularization
(tests/mpc_compute/test_algorithms_models.py; 50k x 20 in scripts/bench_mpc.py). The weights are those of
`iterations` gradient steps, not of the converged optimum: against sklearn's coefficients the gap is what
the iterations leave (the benchmark prints it); the AUC is what the tolerance is stated on.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys, require
from mpc_compute.algorithms.fixed_point import mul_public, sigmoid, sigmoid_exact

NAME = "logreg_train"
VERSION = "1.0.0"
DESCRIPTION = "Logistic regression (gradient descent) on vertically or horizontally split data."
ROLES = (
    Role("features", "data", True, "(rows, cols) floats per provider", use="aggregate"),
    Role("labels", "data", True, "(rows,) 0/1 labels: one input (vertical) or one per provider (horizontal)",
         use="aggregate"),
)
OUTPUTS = ("weights", "bias")
RECEIVER = "buyer"
PARAMS_DOC = {
    "mode": "'vertical' (providers hold different columns) or 'horizontal' (different rows)",
    "iterations": "gradient steps, 1..500 (default 50)",
    "learning_rate": "step size, (0, 10] (default 1.0)",
    "l2": "ridge penalty on the weights, >= 0 (default 0)",
}


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, set(PARAMS_DOC), NAME)
    mode = params.get("mode", "vertical")
    require(
        mode in ("vertical", "horizontal"), f"{NAME}: mode must be 'vertical' or 'horizontal', got {mode!r}"
    )
    iterations = int(params.get("iterations", 50))
    require(1 <= iterations <= 500, f"{NAME}: iterations must be in 1..500, got {iterations}")
    lr = float(params.get("learning_rate", 1.0))
    require(0 < lr <= 10, f"{NAME}: learning_rate must be in (0, 10], got {lr}")
    l2 = float(params.get("l2", 0.0))
    require(0 <= l2 <= 100, f"{NAME}: l2 must be in [0, 100], got {l2}")
    feats = [s for s in specs if s.name.startswith("features_")]
    labels = [s for s in specs if s.name.startswith("labels_")]
    if any(len(s.shape) != 2 for s in feats) or any(len(s.shape) != 1 for s in labels):
        raise InvalidInputs(f"{NAME}: features must be (rows, cols) and labels (rows,)")
    if mode == "vertical":
        rows = {s.shape[0] for s in feats} | {s.shape[0] for s in labels}
        if len(labels) != 1 or len(rows) != 1:
            raise InvalidInputs(
                f"{NAME}: vertical mode needs one labels input and equal row counts, got "
                f"{[(s.name, s.shape) for s in specs]}"
            )
    else:
        cols = {s.shape[1] for s in feats}
        paired = len(labels) == len(feats) and all(
            f.shape[0] == lab.shape[0] for f, lab in zip(feats, labels, strict=True)
        )
        if len(cols) != 1 or not paired:
            raise InvalidInputs(
                f"{NAME}: horizontal mode needs labels_k for each features_k (same rows) and "
                f"equal column counts, got {[(s.name, s.shape) for s in specs]}"
            )
    return {"mode": mode, "iterations": iterations, "learning_rate": lr, "l2": l2}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]
    mode, iterations = params["mode"], params["iterations"]
    lr, l2 = params["learning_rate"], params["l2"]

    def logreg_train(*args):
        x = dict(zip(order, args, strict=True))
        feats = [
            x[n].astype(jnp.float32)
            for n in sorted(
                (n for n in x if n.startswith("features_")), key=lambda n: int(n.rsplit("_", 1)[1])
            )
        ]
        labels = [
            x[n].astype(jnp.float32)
            for n in sorted((n for n in x if n.startswith("labels_")), key=lambda n: int(n.rsplit("_", 1)[1]))
        ]
        axis = 1 if mode == "vertical" else 0
        X = jnp.concatenate(feats, axis=axis) if len(feats) > 1 else feats[0]
        y = jnp.concatenate(labels) if len(labels) > 1 else labels[0]
        n, d = X.shape
        w = jnp.zeros((d,), jnp.float32)
        b = jnp.zeros((), jnp.float32)
        for _ in range(iterations):
            residual = sigmoid(X @ w + b) - y
            grad_w = mul_public(residual @ X, lr / n)
            if l2:
                grad_w = grad_w + mul_public(w, lr * l2)
            w = w - grad_w
            b = b - mul_public(jnp.sum(residual), lr / n)
        return w, b

    return Build(logreg_train, OUTPUTS)


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    """float64 gradient descent with the same steps and the exact logistic function (the oracle)."""
    mode = params.get("mode", "vertical")
    feats = [
        inputs[k]
        for k in sorted(
            (k for k in inputs if k.startswith("features_")), key=lambda k: int(k.rsplit("_", 1)[1])
        )
    ]
    labels = [
        inputs[k]
        for k in sorted(
            (k for k in inputs if k.startswith("labels_")), key=lambda k: int(k.rsplit("_", 1)[1])
        )
    ]
    X = np.concatenate(feats, axis=1 if mode == "vertical" else 0).astype(np.float64)
    y = np.concatenate(labels).astype(np.float64)
    lr, l2 = float(params.get("learning_rate", 1.0)), float(params.get("l2", 0.0))
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(int(params.get("iterations", 50))):
        z = X @ w + b
        p = sigmoid_exact(z)
        r = p - y
        w = w - lr * (X.T @ r / len(y) + l2 * w)
        b = b - lr * r.mean()
    return {"weights": w, "bias": b}
