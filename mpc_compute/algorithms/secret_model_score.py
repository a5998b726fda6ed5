"""secret_model_score: an algorithm provider's secret linear/logistic model applied to secret features.

Inputs: `model` (d + 1,) floats = weights then bias, secret-shared by the algorithm provider (the buyer
never sees it); `features_<k>` (n_k, d_k) from the buyer and/or providers, concatenated along columns,
sum of d_k = d. Two ways to line the rows up:
- keyed: the buyer's `applicants` (n,) int64 IDs (its query) and each table's `ids_<k>` (m_k,) int64
  keying features_k, in its owner's order, with its own ID set. The join runs inside MPC
  (oblivious.align); scores come in the applicants' order. Parameter `unmatched` says what the
  receiver learns about an applicant missing from a table: "impute" (the default) scores it with that
  table's features at 0 (the population mean of standardized columns) and says nothing else; since the
  model is secret, the receiver cannot tell an imputed score from a real one. "flag" zeroes its score
  and releases `matched` (n,), 1.0 for applicants found in every table: the receiver then learns which
  of its IDs a table lacks, which each table's policy must allow (`reveal_absence`, rule
  reveal-absence).
- positional: every features_k holds the same n rows in the same order.
Public parameters: link "linear" or "logistic", scale and offset: score = offset + scale * link(x . w + b)
(e.g. a credit score 300 + 550 * p, or an AML risk score 100 * p for a regulator); unmatched (keyed).
Outputs: scores (n,) and, with unmatched "flag", matched (n,), to the job's result receiver (a buyer,
or a regulator for AML screening).

Accuracy against the exact float64 model (FM64, 18 fraction bits): the logistic link (fixed_point.sigmoid)
is within 1e-4 of the true logistic for any z (measured 2.6e-5 on |z| <= 20), and x . w + b within
d * 4e-6 before it; so p within 1e-4 + d * 1e-6 (2e-4 tested), a credit score within 0.11 points on the
550-point scale. linear: within (d + 1) * 4e-6 * |scale|. Needs |x_j w_j| < 1.3e8 and |z| < 2^27. The
keyed join selects each value by a fixed-point product with a 0/1 match bit: one truncation, at most
2^-18 (4e-6) per feature, inside the bound above (tested at 2e-4 like the positional mode).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from mpc_compute.algorithms.base import Build, InputSpec, InvalidInputs, Role, only_keys, require
from mpc_compute.algorithms.fixed_point import sigmoid, sigmoid_exact
from mpc_compute.algorithms.keyed import TABLE_IDS, check_keyed, is_keyed, numbered, tables
from mpc_compute.algorithms.oblivious import align, plaintext_align

NAME = "secret_model_score"
VERSION = "1.1.0"
DESCRIPTION = "Scores from a provider's secret model on secret features (credit score, AML risk score)."
ROLES = (
    Role(
        "model",
        "model",
        False,
        "(d + 1,) floats: weights, then bias, from the algorithm provider",
        use="model",
    ),
    Role("features", "data", True, "(n, d_k) floats, column blocks of the same rows", use="feature"),
    Role(
        "applicants",
        "query",
        False,
        "(n,) int64 hashed IDs to score, the buyer's (keyed mode)",
        optional=True,
        use="query",
    ),
    TABLE_IDS,
)
OUTPUTS = ("scores", "matched")
RECEIVER = "buyer or regulator (chosen per job)"
PARAMS_DOC = {
    "link": "'linear' or 'logistic' (default 'logistic')",
    "scale": "multiplier of the linked value (default 1)",
    "offset": "added after scaling (default 0)",
    "unmatched": "keyed: 'impute' (default: missing features are 0) or 'flag' (release matched; needs each "
    "table's reveal_absence)",
}


def reveals_absence(params: dict[str, Any]) -> bool:
    """Whether a job with these parameters tells the receiver which of its IDs a table lacks."""
    return params.get("unmatched", "impute") == "flag"


def check_params(specs: list[InputSpec], params: dict[str, Any]) -> dict[str, Any]:
    only_keys(params, set(PARAMS_DOC), NAME)
    link = params.get("link", "logistic")
    require(link in ("linear", "logistic"), f"{NAME}: link must be 'linear' or 'logistic', got {link!r}")
    scale, offset = float(params.get("scale", 1.0)), float(params.get("offset", 0.0))
    require(abs(scale) <= 1e6 and abs(offset) <= 1e6, f"{NAME}: |scale| and |offset| must be <= 1e6")
    unmatched = params.get("unmatched", "impute")
    require(
        unmatched in ("impute", "flag"), f"{NAME}: unmatched must be 'impute' or 'flag', got {unmatched!r}"
    )
    by = {s.name: s for s in specs}
    feats = [by[n] for n in numbered(by, "features_")]
    if any(len(s.shape) != 2 for s in feats):
        raise InvalidInputs(f"{NAME}: features must be (n, d_k) blocks")
    keyed = is_keyed(by)
    if keyed:
        check_keyed(NAME, by)
    else:
        require(
            "unmatched" not in params, f"{NAME}: unmatched applies to keyed mode (applicants, ids_k) only"
        )
        if len({s.shape[0] for s in feats}) != 1:
            raise InvalidInputs(f"{NAME}: features must be (n, d_k) blocks with the same n")
    d = sum(s.shape[1] for s in feats)
    if by["model"].shape != (d + 1,):
        raise InvalidInputs(
            f"{NAME}: model must be ({d + 1},) = weights for {d} features + bias, got {by['model'].shape}"
        )
    return {"link": link, "scale": scale, "offset": offset, "keyed": keyed, "flag": unmatched == "flag"}


def build(specs: list[InputSpec], params: dict[str, Any]) -> Build:
    order = [s.name for s in specs]
    link, scale, offset = params["link"], params["scale"], params["offset"]
    keyed, flag = params["keyed"], params["flag"]

    def secret_model_score(*args):
        x = dict(zip(order, args, strict=True))
        names = numbered(x, "features_")
        blocks = [x[n].astype(jnp.float32) for n in names]
        if keyed:
            matched, blocks = align(x["applicants"], tables(x, blocks))
        X = jnp.concatenate(blocks, axis=1)
        model = x["model"].astype(jnp.float32)
        z = X @ model[:-1] + model[-1]
        value = sigmoid(z) if link == "logistic" else z
        scores = value * scale + offset
        return (scores * matched, matched) if flag else (scores,)

    return Build(secret_model_score, OUTPUTS if flag else ("scores",))


def plaintext(inputs: dict, params: dict[str, Any]) -> dict[str, Any]:
    """The exact float64 model output (the oracle): the true logistic function, no approximation; keyed,
    on the plaintext join in the applicants' order (a missing table's features 0, or flagged)."""
    names = numbered(inputs, "features_")
    blocks = [np.asarray(inputs[n], np.float64) for n in names]
    present = None
    if "applicants" in inputs:
        present, blocks = plaintext_align(inputs["applicants"], tables(inputs, blocks))
    X = np.concatenate(blocks, axis=1)
    model = inputs["model"].astype(np.float64)
    z = X @ model[:-1] + model[-1]
    value = sigmoid_exact(z) if params.get("link", "logistic") == "logistic" else z
    scores = value * float(params.get("scale", 1.0)) + float(params.get("offset", 0.0))
    if reveals_absence(params):
        return {"scores": scores * present, "matched": present.astype(np.float64)}
    return {"scores": scores}
