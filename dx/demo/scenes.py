"""The demo's scenes: each requests a job (or tries one that must fail) and checks it against plaintext.

The plaintext answers are computed here from the synthetic data only to show that the MPC result
is right; the exchange and the nodes never see them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dx import actions, context
from dx.actions.buyer import node_states, reconstruct
from dx.demo.cast import Demo, Outcome, act, note
from dx.errors import DxError


@dataclass(frozen=True)
class Scene:
    """One scene: its name in the results table, and the function that plays it."""

    name: str
    play: Callable[[Demo, Scene], Outcome]


def run_job(demo: Demo, buyer: str, algorithm: str, inputs: list[str], params: list[str] | None = None,
            receiver: str | None = None) -> tuple[int, dict[str, Any]]:
    """Request, have every owner approve, wait for the nodes, reconstruct as the receiver."""
    req = actions.request_job(buyer, str(demo.algorithms[algorithm]), inputs, params or [], receiver)
    job_id = req["job_id"]
    job = actions.job_status(buyer, job_id)
    for owner in dict.fromkeys(job["pending_owners"]):
        actions.decide(demo.name_of(owner), job_id, approve=True)
    job = actions.watch_job(buyer, job_id)
    failed = [n for n in job["nodes"] if n["status"] != "succeeded"]
    if failed:
        raise DxError(f"job {job_id} did not complete: " + "; ".join(
            f"node {n['index']} {n['status']}: {n['error']}" for n in failed))
    return job_id, reconstruct(receiver or buyer, job_id)


def _close(name: str, got, want, rtol: float, atol: float) -> str:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        raise DxError(f"{name}: MPC gave {np.round(got, 4).tolist()}, plaintext {np.round(want, 4).tolist()}")
    return f"{name} matches plaintext (rtol {rtol}, atol {atol})"


def joint_stats(demo: Demo, scene: Scene) -> Outcome:
    act("Bank A computes joint statistics over the tax bureau's data, which it never sees")
    cols = ["revenue", "tax_paid", "filings_late"]
    job_id, res = run_job(demo, "bank-a", "joint_stats", [f"data_0={demo.datasets['tax']}"])
    x = demo.scenario.tables["tax"].numeric(cols)
    checks = [_close("count", res["count"], x.shape[0], 1e-3, 1e-2),
              _close("mean", res["mean"], x.mean(0), 1e-3, 1e-3),
              _close("variance", res["variance"], x.var(0), 1e-2, 1e-2)]
    shown = f"mean revenue {float(res['mean'][0]):.3f} M (plaintext {x.mean(0)[0]:.3f})"
    note(f"job #{job_id}: {shown}")
    return Outcome(scene.name, "ok", "mean/variance of revenue, tax paid, late filings", job_id,
                   {k: np.asarray(v).tolist() for k, v in res.items()},
                   {"count": x.shape[0], "mean": x.mean(0).tolist(), "variance": x.var(0).tolist()}, checks,
                   shown=shown)


def _ref(demo: Demo, dataset: str, array: str) -> str:
    return f"{demo.datasets[dataset]}.{array}"


def _ids(demo: Demo, table: str) -> list[str]:
    return demo.scenario.tables[table].columns["enterprise_id"]


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.argsort(np.argsort(scores)) + 1
    pos = float(labels.sum())
    neg = len(labels) - pos
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _multi_lender_inputs(demo: Demo) -> list[str]:
    return [f"applicants={_ref(demo, 'applicants_bank_a', 'id')}",
            f"loan_ids_0={_ref(demo, 'loans_bank_a', 'id')}",
            f"loan_amounts_0={_ref(demo, 'loans_bank_a', 'label')}",
            f"loan_ids_1={_ref(demo, 'loans_bank_b', 'id')}",
            f"loan_amounts_1={_ref(demo, 'loans_bank_b', 'label')}"]


def multi_lender(demo: Demo, scene: Scene) -> Outcome:
    act("Bank A checks its applicants against both banks' loan books (multi-lending), seeing no book")
    job_id, res = run_job(demo, "bank-a", "multi_lender", _multi_lender_inputs(demo))
    applicants = _ids(demo, "applicants_bank_a")
    lenders, totals = np.zeros(len(applicants)), np.zeros(len(applicants))
    for book in ("loans_bank_a", "loans_bank_b"):
        t = demo.scenario.tables[book]
        amount = dict(zip(t.columns["enterprise_id"], t.columns["loan_amount"], strict=True))
        for i, e in enumerate(applicants):
            if e in amount:
                lenders[i] += 1
                totals[i] += amount[e]
    got_lenders = np.rint(np.asarray(res["lenders"], dtype=float))
    checks = [_close("lenders per applicant", got_lenders, lenders, 0, 0),
              _close("total loans per applicant", res["total_loans"], totals, 1e-3, 0.5)]
    both, want_both = int((got_lenders == 2).sum()), int((lenders == 2).sum())
    shown = f"{both} applicants borrow from both banks (plaintext {want_both})"
    note(f"job #{job_id}: {shown}; exposure {float(np.sum(res['total_loans'])):.1f} k "
         f"(plaintext {totals.sum():.1f})")
    return Outcome(scene.name, "ok", "lenders and total loans per applicant", job_id,
                   {"lenders": got_lenders.tolist(), "total_loans": np.asarray(res["total_loans"]).tolist()},
                   {"lenders": lenders.tolist(), "total_loans": totals.tolist()}, checks, shown=shown)


def _keyed_tables(demo: Demo) -> list[str]:
    """The providers' whole standardized tables, each keyed by its own enterprise IDs in its own order."""
    return [f"features_0={_ref(demo, 'tax_scaled', 'features')}", f"ids_0={_ref(demo, 'tax_scaled', 'id')}",
            f"features_1={_ref(demo, 'telecom_scaled', 'features')}",
            f"ids_1={_ref(demo, 'telecom_scaled', 'id')}"]


def logistic_regression(demo: Demo, scene: Scene) -> Outcome:
    act("Bank A trains a default model on the tax bureau's and telecom's whole tables with its own labels: "
        "the join on enterprise ID happens inside MPC, and nobody sees bank A's applicant list")
    # a light ridge penalty gives a unique optimum that 100 gradient steps reach on these few rows
    iterations, rate, l2 = 100, 1.0, 0.02
    job_id, res = run_job(demo, "bank-a", "logreg_train", [
        f"applicants={_ref(demo, 'applicants_bank_a', 'id')}",
        f"labels_0={_ref(demo, 'applicants_bank_a', 'label')}", *_keyed_tables(demo)],
        ["mode=vertical", f"iterations={iterations}", f"learning_rate={rate}", f"l2={l2}"])
    applicants = _ids(demo, "applicants_bank_a")
    joined = demo.scenario.in_every_table(applicants)  # the plaintext join: applicants both providers hold
    x = demo.scenario.zfeatures_of(applicants)[joined]
    y = np.asarray(demo.scenario.tables["applicants_bank_a"].columns["defaulted"], dtype=float)[joined]
    from sklearn.linear_model import LogisticRegression  # the oracle only: the demo's import stays light

    # the model a user means: sklearn's fit at the same penalty (C = 1 / (n l2)) on the joined rows
    sk = LogisticRegression(C=1.0 / (len(y) * l2), tol=1e-10, max_iter=10_000).fit(x, y)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(iterations):  # the same full-batch gradient descent in float64, exact sigmoid
        p = _sigmoid(x @ w + b)
        w, b = w - rate * (x.T @ (p - y) / len(y) + l2 * w), b - rate * float(np.mean(p - y))
    mw, mb = np.asarray(res["weights"], dtype=float), float(np.asarray(res["bias"]))
    rows = round(float(np.asarray(res["rows"])))
    auc_mpc, auc_sk = _auc(x @ mw + mb, y), _auc(sk.decision_function(x), y)
    if not (auc_mpc > 0.7 and abs(auc_mpc - auc_sk) < 0.005):
        raise DxError(f"MPC model AUC {auc_mpc:.4f} vs sklearn {auc_sk:.4f} (must be within 0.005)")
    if rows != len(y):
        raise DxError(f"the model trained on {rows} joined rows, the plaintext join has {len(y)}")
    checks = [f"AUC {auc_mpc:.4f} on the training rows (sklearn {auc_sk:.4f}, chance 0.5)",
              f"{rows} of {len(applicants)} applicants are in both tables (plaintext join {len(y)})",
              _close("weights against float64 gradient descent", mw, w, 0.0, 0.01)]
    shown = (f"AUC {auc_mpc:.4f} (sklearn {auc_sk:.4f}) on {rows} joined applicants; weights within 0.01 of "
             "float64 training")
    note(f"job #{job_id}: {shown}")
    return Outcome(scene.name, "ok", "logistic regression on split data, joined inside MPC", job_id,
                   {"weights": mw.tolist(), "bias": mb, "auc": auc_mpc, "rows": rows},
                   {"weights": w.tolist(), "bias": b, "auc": auc_sk, "rows": len(y)}, checks, shown=shown)


def _score_inputs(demo: Demo) -> list[str]:
    """Bank A's applicant list and the providers' whole tables: a provider's missing row scores with its
    features at their mean (the program's default, unmatched=impute); nothing says which were missing."""
    return ["model=model.model", f"applicants={_ref(demo, 'applicants_bank_a', 'id')}", *_keyed_tables(demo)]


def credit_scoring(demo: Demo, scene: Scene) -> Outcome:
    act("Bank A scores its applicants with the vendor's secret credit model: neither sees the other's")
    job_id, res = run_job(demo, "bank-a", "credit_model", _score_inputs(demo))  # the model fixes its scale
    model = demo.scenario.models["credit_model"]
    want = 300 + 550 * model.score(demo.scenario.zfeatures_of(_ids(demo, "applicants_bank_a")))
    got = np.asarray(res["scores"], dtype=float)
    # the exact logistic model; the program's sigmoid is within 1e-4 (fixed_point.SIGMOID_MAX_ERROR)
    checks = [_close("credit scores", got, want, 0.0, 2e-4 * 550)]
    gap = np.abs(got - want).max()
    shown = f"mean score {got.mean():.1f} (plaintext {want.mean():.1f}), max gap {gap:.1f}"
    note(f"job #{job_id}: {shown}")
    return Outcome(scene.name, "ok", "credit scores from a secret model", job_id, {"scores": got.tolist()},
                   {"scores": want.tolist()}, checks, shown=shown)


def blacklist(demo: Demo, scene: Scene) -> Outcome:
    act("Bank A asks which applicants are on the tax bureau's blacklist (an anonymous query)")
    job_id, res = run_job(demo, "bank-a", "blacklist_match", [
        f"queries={_ref(demo, 'applicants_bank_a', 'id')}", f"blacklist={_ref(demo, 'blacklist', 'id')}"])
    listed = set(_ids(demo, "blacklist"))
    want = np.asarray([1.0 if e in listed else 0.0 for e in _ids(demo, "applicants_bank_a")])
    got = np.rint(np.asarray(res["member"], dtype=float))
    checks = [_close("blacklist bits", got, want, 0, 0)]
    shown = f"{int(got.sum())} of {len(got)} applicants listed (plaintext {int(want.sum())})"
    note(f"job #{job_id}: {shown}")
    return Outcome(scene.name, "ok", "blacklist membership per applicant", job_id, {"member": got.tolist()},
                   {"member": want.tolist()}, checks, shown=shown)


def aml_to_regulator(demo: Demo, scene: Scene) -> Outcome:
    act("An AML risk screening of bank A's applicants: the result goes to the regulator, not the bank")
    job_id, res = run_job(demo, "bank-a", "aml_model", _score_inputs(demo), receiver="regulator")
    try:
        reconstruct("bank-a", job_id)
        raise DxError("the bank could open the AML result meant for the regulator")
    except DxError as exc:
        if "could open" in exc.message:
            raise
        bank_blocked = exc.message
    model = demo.scenario.models["aml_model"]
    want = 100 * model.score(demo.scenario.zfeatures_of(_ids(demo, "applicants_bank_a")))
    got = np.asarray(res["scores"], dtype=float)
    checks = [_close("AML risk scores", got, want, 0.0, 2e-4 * 100),  # the exact logistic, as above
              f"the bank cannot open it: {bank_blocked[:60]}"]
    high, want_high = int((got > 50).sum()), int((want > 50).sum())
    shown = f"{high} high-risk applicants (plaintext {want_high}), for the regulator's eyes only"
    note(f"job #{job_id}: {shown}")
    return Outcome(scene.name, "ok", "AML risk scores delivered to the regulator", job_id,
                   {"scores": got.tolist(), "receiver": "regulator"}, {"scores": want.tolist()}, checks,
                   shown=shown)


def over_use(demo: Demo, scene: Scene) -> Outcome:
    act("Bank B's loan book may be used once: a second multi-lender check is refused on-chain")
    dataset_id = demo.datasets["loans_bank_b"]
    listing = actions.show_dataset("bank-a", dataset_id)
    if listing["uses"] < listing["max_uses"]:
        raise DxError(f"loans_bank_b has uses {listing['uses']}/{listing['max_uses']}: the multi-lender "
                      "scene should have used it up")
    refused_at, job_id = None, None
    try:
        req = actions.request_job("bank-a", str(demo.algorithms["multi_lender"]), _multi_lender_inputs(demo),
                                  [], None)
        job_id = req["job_id"]
        for owner in dict.fromkeys(actions.job_status("bank-a", job_id)["pending_owners"]):
            actions.decide(demo.name_of(owner), job_id, approve=True)
    except DxError as exc:
        refused_at = f"refused: {exc.message}"
    status = actions.job_status("bank-a", job_id)["status"] if job_id else "never requested"
    if refused_at is None or status == "authorized":
        raise DxError(f"a request beyond max uses was not refused (job {job_id} is {status})")
    uses = actions.show_dataset("bank-a", dataset_id)["uses"]
    if uses != listing["max_uses"]:
        raise DxError(f"uses is {uses}, expected {listing['max_uses']}")
    note(f"{refused_at[:150]}")
    note(f"the listing shows uses {uses}/{listing['max_uses']}")
    checks = [f"second request {refused_at[:80]}", f"uses stayed at {uses} = max uses {listing['max_uses']}"]
    return Outcome(scene.name, "refused", "a request beyond max uses is refused", job_id,
                   {"refused": refused_at, "job_status": status, "uses": uses},
                   {"max_uses": listing["max_uses"]}, checks, shown="UsageLimitReached: uses stay 1/1")


def declined(demo: Demo, scene: Scene) -> Outcome:
    act("Bank B asks to use the telecom's data; the telecom declines, so the job never runs")
    telecom = demo.datasets["telecom"]
    req = actions.request_job("bank-b", str(demo.algorithms["joint_stats"]), [f"data_0={telecom}"], [], None)
    job_id = req["job_id"]
    actions.decide("telecom", job_id, approve=False)
    job = actions.job_status("bank-b", job_id)
    for _ in range(20):  # the decline is relayed on-chain, then indexed
        if job["status"] == "declined":
            break
        time.sleep(0.5)
        job = actions.job_status("bank-b", job_id)
    ran = [i for i, s in enumerate(node_states(job_id)) if s is not None]
    if job["status"] != "declined" or ran:
        raise DxError(f"declined job {job_id} is {job['status']}, nodes that touched it: {ran}")
    note(f"job #{job_id} is declined; no node started it")
    return Outcome(scene.name, "declined", "a declined job never runs", job_id,
                   {"status": job["status"], "nodes_started": ran}, {"status": "declined"},
                   ["status is declined", "no node has a record of the job"])


def policy_refused(demo: Demo, scene: Scene) -> Outcome:
    act("Bank B asks for statistics that include the telecom's payment delays, which its policy marks not "
        "usable: the telecom approves by mistake, and every node still refuses")
    telecom = demo.datasets["telecom"]
    uses_before = actions.show_dataset("bank-b", telecom)["uses"]
    req = actions.request_job("bank-b", str(demo.algorithms["joint_stats"]), [f"data_0={telecom}"], [], None)
    job_id = req["job_id"]
    for owner in dict.fromkeys(actions.job_status("bank-b", job_id)["pending_owners"]):
        actions.decide(demo.name_of(owner), job_id, approve=True)
    ledger = context.ledger()
    for _ in range(240):  # the nodes check the policy before computing: this takes seconds, not a run
        status = ledger.jobs.job(job_id).status.name.lower()
        if status != "authorized":
            break
        time.sleep(0.5)
    refusals = [e.args for e in ledger.events(ledger.deployment.blocks.get("ComputeJobs", 0))
                if e.event == "JobRefused" and e.args["jobId"] == job_id]
    uses = ledger.market.dataset(telecom).uses
    if status != "refused" or not refusals or refusals[0]["rule"] != "column-rule" or uses != uses_before:
        raise DxError(f"job {job_id} is {status} (refusals {refusals}, uses {uses_before} -> {uses}): the "
                      "not-usable column was not refused")
    rule, refund = refusals[0]["rule"], int(refusals[0]["refund"])
    note(f"job #{job_id} refused on-chain by node {refusals[0]['nodeIndex']}: rule {rule}; "
         f"{refund} wei credited back to Bank B; the telecom's uses stay {uses}")
    return Outcome(scene.name, "refused", "a job its listing's policy forbids is refused by the nodes",
                   job_id, {"status": status, "rule": rule, "refund_wei": refund, "uses": uses},
                   {"status": "refused", "rule": "column-rule"},
                   [f"status is {status}", f"refused under rule {rule}", f"uses stayed at {uses}"],
                   shown=f"refused ({rule}), escrow back, uses unchanged")
