"""logreg_train: logistic regression by full-batch gradient descent on features split across providers.

mode "vertical": `features_<k>` (n, d_k) from several providers, concatenated along columns, and
`labels_0` (n,) 0/1 from the label holder. Two ways to line the rows up:
- keyed (the label holder's `applicants` (n,) int64 IDs given, labels_0 in their order, and each
  provider's `ids_<k>` (m_k,) int64 keying features_k (m_k, d_k), in its own order, with its own ID
  set): the join runs inside MPC (oblivious.align), and only applicants present in every table train
  the model. Nobody learns which IDs matched; the receiver learns the weights and `rows`, how many
  applicants took part (released only when >= min_rows, else every output is zero).
- positional (no IDs): every input holds the same rows in the same order.
mode "horizontal": `features_<k>` (n_k, d) and `labels_<k>` (n_k,) per provider, concatenated along rows.

Public parameters: iterations, learning_rate, l2 (ridge on weights, not the bias): the gradient of mean
log-loss + l2/2 |w|^2, i.e. sklearn's LogisticRegression with C = 1 / (n * l2) (penalty=None for
l2 = 0); min_rows, the floor on the rows that train (every dataset's k raises it). Outputs: weights
(d,), bias (), rows (). Features should be standardized (|x| up to ~10) by the providers.

Accuracy (FM64, 18 fraction bits): the sigmoid is fixed_point.sigmoid (within 1e-4 of the exact
logistic), the steps lr / n are applied with 18 significant bits (fixed_point.mul_public; keyed: the
secret 1 / rows is taken once, scaled to [1, 2^s], by fixed_point.divide_by_count, 2e-5 relative), and
each matrix product is truncated once (n * |residual * x| < 1.3e8: n up to ~1e7 standardized rows).
Tested: weights and bias within 0.01 of float64 gradient descent with the exact sigmoid and the same
steps on the plaintext join (plaintext()), and held-out AUC within 0.005 of sklearn's LogisticRegression
at the same regularization (tests/mpc_compute/test_algorithms_models.py; 50k x 20 in
scripts/bench_mpc.py; keyed 50k applicants against 1M-row tables in scripts/bench_join.py). The weights
are those of `iterations` gradient steps, not of the converged optimum: against sklearn's coefficients the
gap is what the iterations leave (the benchmark prints it); the AUC is what the tolerance is stated on.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys, require
from mpc_compute.algorithms.fixed_point import divide_by_count, mul_public, sigmoid, sigmoid_exact
from mpc_compute.algorithms.keyed import TABLE_IDS, check_keyed, is_keyed, numbered, tables
from mpc_compute.algorithms.oblivious import align, plaintext_align

NAME = "logreg_train"
VERSION = "1.1.0"
DESCRIPTION = "Logistic regression (gradient descent) on vertically or horizontally split data."
ROLES = (
    Role("features", "data", True, "(rows, cols) floats per provider", use="aggregate"),
    Role(
        "labels",
        "data",
        True,
        "(rows,) 0/1 labels: one input (vertical) or one per provider (horizontal)",
        use="aggregate",
    ),
    Role(
        "applicants",
        "query",
        False,
        "(n,) int64 hashed IDs of labels_0's rows (keyed vertical mode)",
        optional=True,
        use="query",
    ),
    TABLE_IDS,
)
OUTPUTS = ("weights", "bias", "rows")
RECEIVER = "buyer"
GROUP_FLOOR_PARAM = "min_rows"
PARAMS_DOC = {
    "mode": "'vertical' (providers hold different columns) or 'horizontal' (different rows)",
    "iterations": "gradient steps, 1..500 (default 50)",
    "learning_rate": "step size, (0, 10] (default 1.0)",
    "l2": "ridge penalty on the weights, >= 0 (default 0)",
    "min_rows": "release nothing (zeros) when fewer rows train the model (default 0; raised to each k)",
}


def _check_keyed(by: dict[str, InputSpec], labels: list[InputSpec]) -> int:
    """The keyed vertical inputs' shapes, labels_0 in the applicants' order; returns their count."""
    n = check_keyed(NAME, by)
    if [s.name for s in labels] != ["labels_0"] or labels[0].shape != (n,):
        raise InvalidInputs(f"{NAME}: keyed mode needs one labels_0 of shape ({n},), got {labels}")
    return n


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
    min_rows = int(params.get("min_rows", 0))
    require(min_rows >= 0, f"{NAME}: min_rows must be >= 0, got {min_rows}")
    by = {s.name: s for s in specs}
    feats = [by[n] for n in numbered(by, "features_")]
    labels = [by[n] for n in numbered(by, "labels_")]
    if any(len(s.shape) != 2 for s in feats) or any(len(s.shape) != 1 for s in labels):
        raise InvalidInputs(f"{NAME}: features must be (rows, cols) and labels (rows,)")
    keyed = is_keyed(by)
    if keyed:
        require(mode == "vertical", f"{NAME}: applicants and ids_k (keyed rows) need mode 'vertical'")
        rows = _check_keyed(by, labels)
    elif mode == "vertical":
        counts = {s.shape[0] for s in feats} | {s.shape[0] for s in labels}
        if len(labels) != 1 or len(counts) != 1:
            raise InvalidInputs(
                f"{NAME}: vertical mode needs one labels input and equal row counts, got "
                f"{[(s.name, s.shape) for s in specs]}"
            )
        rows = counts.pop()
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
        rows = sum(s.shape[0] for s in labels)
    # without keys the row count is public: a floor above it is refused before anything runs
    require(keyed or rows >= min_rows, f"{NAME}: the job has {rows} rows, fewer than min_rows {min_rows}")
    return {
        "mode": mode,
        "iterations": iterations,
        "learning_rate": lr,
        "l2": l2,
        "min_rows": min_rows,
        "keyed": keyed,
        "max_rows": rows,
    }


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]
    mode, iterations, keyed = params["mode"], params["iterations"], params["keyed"]
    lr, l2, min_rows, max_rows = params["learning_rate"], params["l2"], params["min_rows"], params["max_rows"]
    # keyed: 1 / rows is secret and taken once as 2^s / rows in [1, 2^s], so that it keeps 18 fraction
    # bits of precision; the public 2^-s joins lr in one mul_public per step
    s = max(1, int(max_rows).bit_length())

    def logreg_train(*args):
        x = dict(zip(order, args, strict=True))
        feats = [x[n].astype(jnp.float32) for n in numbered(x, "features_")]
        labels = [x[n].astype(jnp.float32) for n in numbered(x, "labels_")]
        if keyed:
            mask, blocks = align(x["applicants"], tables(x, feats))
            X = jnp.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
            y = labels[0]
            rows = jnp.sum(mask)
            inv = divide_by_count(jnp.float32(2.0**s), rows, max_rows)
            step = lr * 2.0**-s
        else:
            axis = 1 if mode == "vertical" else 0
            X = jnp.concatenate(feats, axis=axis) if len(feats) > 1 else feats[0]
            y = jnp.concatenate(labels) if len(labels) > 1 else labels[0]
            # the count is public; a select on a secret makes it a secret output like the keyed one's
            rows = jnp.where(y[0] == y[0], jnp.float32(X.shape[0]), jnp.float32(0))
            mask, inv, step = None, None, lr / X.shape[0]

        def descend(_, wb):
            w, b = wb
            residual = sigmoid(X @ w + b) - y
            if mask is not None:
                residual = residual * mask
            sums = jnp.concatenate([residual @ X, jnp.sum(residual)[None]])
            grad = mul_public(sums if inv is None else sums * inv, step)
            grad_w = grad[:-1] + mul_public(w, lr * l2) if l2 else grad[:-1]
            return w - grad_w, b - grad[-1]

        # a loop with a public trip count, not `iterations` unrolled copies: compiling stays as fast
        # for 500 steps as for one (unrolled, 100 steps took 16 s to compile on every node and client)
        start = (jnp.zeros((X.shape[1],), jnp.float32), jnp.zeros((), jnp.float32))
        w, b = jax.lax.fori_loop(0, iterations, descend, start)
        released = (rows >= min_rows).astype(jnp.float32)
        return w * released, b * released, rows * released

    return Build(logreg_train, OUTPUTS)


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    """float64 gradient descent with the same steps and the exact logistic function on the plaintext
    join (the oracle): keyed, the applicants found in every table, in the applicants' order."""
    feats = [inputs[k] for k in numbered(inputs, "features_")]
    labels = [inputs[k] for k in numbered(inputs, "labels_")]
    if "applicants" in inputs:
        present, blocks = plaintext_align(inputs["applicants"], tables(inputs))
        X, y = np.concatenate(blocks, axis=1)[present], np.asarray(labels[0])[present]
    else:
        X = np.concatenate(feats, axis=1 if params.get("mode", "vertical") == "vertical" else 0)
        y = np.concatenate(labels)
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    lr, l2 = float(params.get("learning_rate", 1.0)), float(params.get("l2", 0.0))
    w, b = np.zeros(X.shape[1]), 0.0
    released = len(y) >= int(params.get("min_rows", 0))
    if not released:
        return {"weights": w, "bias": b, "rows": 0.0}
    for _ in range(int(params.get("iterations", 50))):
        r = sigmoid_exact(X @ w + b) - y
        w = w - lr * (X.T @ r / len(y) + l2 * w)
        b = b - lr * r.mean()
    return {"weights": w, "bias": b, "rows": float(len(y))}
