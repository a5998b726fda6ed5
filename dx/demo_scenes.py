"""The demo's scenes: each requests a job (or tries one that must fail) and checks it against plaintext.

The plaintext answers are computed here from the synthetic data only to show that the MPC result
is right; the exchange and the nodes never see them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dx import actions, output
from dx.components import available
from dx.demo import Demo, Outcome, note, run_job, story
from dx.errors import DxError


@dataclass(frozen=True)
class Scene:
    name: str
    algorithm: str | None  # the library algorithm the scene needs (None: none)
    needs_nodes: bool
    play: Callable[[Demo, Scene], Outcome]


def _close(name: str, got, want, rtol: float, atol: float) -> str:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        raise DxError(f"{name}: MPC gave {np.round(got, 4).tolist()}, plaintext {np.round(want, 4).tolist()}")
    return f"{name} matches plaintext (rtol {rtol}, atol {atol})"


def joint_stats(demo: Demo, scene: Scene) -> Outcome:
    story("Bank A computes joint statistics over the tax bureau's data, which it never sees")
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


def over_use(demo: Demo, scene: Scene) -> Outcome:
    story("Bank B's loan book may be used once: a second use is refused on-chain")
    dataset_id = demo.datasets["loans_bank_b"]
    listing = actions.show_dataset("bank-a", dataset_id)
    first = None
    if listing["uses"] < listing["max_uses"]:
        first, _ = run_job(demo, "bank-a", "joint_stats", [f"data_0={dataset_id}"])
        note(f"job #{first} used it (uses now {actions.show_dataset('bank-a', dataset_id)['uses']}/1)")
    refused_at, job_id = None, None
    try:
        req = actions.request_job("bank-a", str(demo.algorithms["joint_stats"]), [f"data_0={dataset_id}"],
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
    note(f"{refused_at[:140]}")
    note(f"job {job_id or '-'} is {status}; the listing shows uses {uses}/{listing['max_uses']}")
    checks = [f"second request {refused_at[:80]}", f"uses stayed at {uses} = max uses {listing['max_uses']}"]
    if uses != listing["max_uses"]:
        raise DxError(f"uses is {uses}, expected {listing['max_uses']}")
    return Outcome(scene.name, "refused", "a request beyond max uses is refused", job_id,
                   {"refused": refused_at, "job_status": status, "uses": uses, "first_job": first},
                   {"max_uses": listing["max_uses"]}, checks)


def declined(demo: Demo, scene: Scene) -> Outcome:
    story("Bank B asks to use the telecom's data; the telecom declines, so the job never runs")
    from dx.actions.buyer import node_states

    telecom = demo.datasets["telecom"]
    req = actions.request_job("bank-b", str(demo.algorithms["joint_stats"]), [f"data_0={telecom}"], [], None)
    job_id = req["job_id"]
    actions.decide("telecom", job_id, approve=False)
    job = actions.job_status("bank-b", job_id)
    for _ in range(20):
        if job["status"] == "declined":
            break
        import time

        time.sleep(0.5)
        job = actions.job_status("bank-b", job_id)
    ran = [i for i, s in enumerate(node_states(job_id)) if s is not None]
    if job["status"] != "declined" or ran:
        raise DxError(f"declined job {job_id} is {job['status']}, nodes that touched it: {ran}")
    note(f"job #{job_id} is declined; no node started it")
    return Outcome(scene.name, "declined", "a declined job never runs", job_id,
                   {"status": job["status"], "nodes_started": ran}, {"status": "declined"},
                   ["status is declined", "no node has a record of the job"])


SCENES: list[Scene] = [
    Scene("joint statistics", "joint_stats", True, joint_stats),
    Scene("max uses enforced", "joint_stats", True, over_use),
    Scene("declined job never runs", "joint_stats", False, declined),
]


def play(scene: Scene, demo: Demo) -> Outcome:
    """Run one scene; a missing component makes it `skipped` (said plainly), an error `failed`."""
    if scene.algorithm and scene.algorithm not in demo.algorithms:
        return Outcome(scene.name, "skipped",
                       error=f"algorithm {scene.algorithm!r} is not in the library yet")
    if scene.needs_nodes and not available("mpc_compute.node.chain"):
        return Outcome(scene.name, "skipped", error="compute nodes cannot follow the chain yet "
                                                    "(mpc_compute/node/chain.py has not landed)")
    try:
        return scene.play(demo, scene)
    except DxError as exc:
        note(f"[red]failed:[/] {exc.message}")
        return Outcome(scene.name, "failed", error=exc.message)


def print_results(outcomes: list[Outcome], audit: dict | None, not_available: list[str]) -> None:
    if output.json_mode():
        return
    style = {"ok": "green", "refused": "green", "declined": "green", "skipped": "yellow", "failed": "red"}
    output.console.print()
    output.console.print(output.table("results", ["scene", "outcome", "job", "MPC result (plaintext)"], [
        (o.scene, f"[{style[o.status]}]{o.status}[/]", o.job_id or "",
         (o.shown or o.summary) if o.status not in {"skipped", "failed"} else o.error) for o in outcomes]))
    if audit is not None:
        verdict = "[bold green]VERIFIED[/]" if audit["ok"] else "[bold red]NOT VERIFIED[/]"
        output.console.print(f"audit verdict: {verdict}")
    for item in not_available:
        output.console.print(f"[yellow]not yet available:[/] {item}")
