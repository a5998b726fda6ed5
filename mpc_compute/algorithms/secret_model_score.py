"""secret_model_score: an algorithm provider's secret linear/logistic model applied to secret features.

Inputs: `model` (d + 1,) floats = weights then bias, secret-shared by the algorithm provider (the buyer
never sees it); `features_<k>` (n, d_k) from the buyer and/or providers, concatenated along columns
(same rows in the same order), sum of d_k = d. Public parameters: link "linear" or "logistic", scale
and offset: score = offset + scale * link(x . w + b) (e.g. a credit score 300 + 550 * p, or an AML risk
score 100 * p for a regulator).
Output: scores (n,), to the job's result receiver (a buyer, or a regulator for AML screening).

Accuracy against the exact float64 model (FM64, 18 fraction bits): the logistic link (fixed_point.sigmoid)
is within 1e-4 of the true logistic for any z (measured 2.6e-5 on |z| <= 20), and x . w + b within
d * 4e-6 before it; so p within 1e-4 + d * 1e-6 (2e-4 tested), a credit score within 0.11 points on the
550-point scale. linear: within (d + 1) * 4e-6 * |scale|. Needs |x_j w_j| < 1.3e8 and |z| < 2^27.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys, require
from mpc_compute.algorithms.fixed_point import sigmoid, sigmoid_exact

NAME = "secret_model_score"
VERSION = "1.0.0"
DESCRIPTION = "Scores from a provider's secret model on secret features (credit score, AML risk score)."
ROLES = (
    Role("model", "model", False, "(d + 1,) floats: weights, then bias, from the algorithm provider",
         use="model"),
    Role("features", "data", True, "(n, d_k) floats, column blocks of the same rows", use="feature"),
)
OUTPUTS = ("scores",)
RECEIVER = "buyer or regulator (chosen per job)"
PARAMS_DOC = {
    "link": "'linear' or 'logistic' (default 'logistic')",
    "scale": "multiplier of the linked value (default 1)",
    "offset": "added after scaling (default 0)",
}


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, set(PARAMS_DOC), NAME)
    link = params.get("link", "logistic")
    require(link in ("linear", "logistic"), f"{NAME}: link must be 'linear' or 'logistic', got {link!r}")
    scale, offset = float(params.get("scale", 1.0)), float(params.get("offset", 0.0))
    require(abs(scale) <= 1e6 and abs(offset) <= 1e6, f"{NAME}: |scale| and |offset| must be <= 1e6")
    by = {s.name: s for s in specs}
    feats = [s for s in specs if s.name.startswith("features_")]
    if any(len(s.shape) != 2 for s in feats) or len({s.shape[0] for s in feats}) != 1:
        raise InvalidInputs(f"{NAME}: features must be (n, d_k) blocks with the same n")
    d = sum(s.shape[1] for s in feats)
    if by["model"].shape != (d + 1,):
        raise InvalidInputs(
            f"{NAME}: model must be ({d + 1},) = weights for {d} features + bias, got {by['model'].shape}"
        )
    return {"link": link, "scale": scale, "offset": offset}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]
    link, scale, offset = params["link"], params["scale"], params["offset"]

    def secret_model_score(*args):
        x = dict(zip(order, args, strict=True))
        names = sorted((n for n in x if n.startswith("features_")), key=lambda n: int(n.rsplit("_", 1)[1]))
        X = jnp.concatenate([x[n].astype(jnp.float32) for n in names], axis=1)
        model = x["model"].astype(jnp.float32)
        z = X @ model[:-1] + model[-1]
        value = sigmoid(z) if link == "logistic" else z
        return (value * scale + offset,)

    return Build(secret_model_score, OUTPUTS)


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    """The exact float64 model output (the oracle): the true logistic function, no approximation."""
    names = sorted((n for n in inputs if n.startswith("features_")), key=lambda n: int(n.rsplit("_", 1)[1]))
    X = np.concatenate([inputs[n] for n in names], axis=1).astype(np.float64)
    model = inputs["model"].astype(np.float64)
    z = X @ model[:-1] + model[-1]
    value = sigmoid_exact(z) if params.get("link", "logistic") == "logistic" else z
    return {"scores": value * float(params.get("scale", 1.0)) + float(params.get("offset", 0.0))}
