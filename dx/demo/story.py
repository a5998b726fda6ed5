"""The demo: the exchange's story played end to end against the local stack, with plaintext checks.

Acts: the stack starts; the operator admits the cast and registers the cluster; sellers publish
datasets keyed by enterprise ID and the vendor publishes its secret models; then the scenes run in
the order below (each checked against a plaintext answer computed only for the demo), a request
beyond a listing's max uses is refused, a declined job never runs; the regulator verifies the trail.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dx import actions, datagen, output
from dx.actions.audit import audit_usage, verified_export
from dx.actions.stack import bring_up
from dx.demo import scenes
from dx.demo.cast import Demo, Outcome, act, admit_cast, note, publish_algorithms, publish_data
from dx.errors import DxError, VerificationError
from dx.stack import Supervisor
from dx_core.settings import get_settings

SCENES: list[scenes.Scene] = [
    scenes.Scene("joint statistics", scenes.joint_stats),
    scenes.Scene("multi-lender check", scenes.multi_lender),
    scenes.Scene("max uses enforced", scenes.over_use),
    scenes.Scene("logistic regression", scenes.logistic_regression),
    scenes.Scene("credit scoring (secret model)", scenes.credit_scoring),
    scenes.Scene("blacklist check", scenes.blacklist),
    scenes.Scene("AML scoring for the regulator", scenes.aml_to_regulator),
    scenes.Scene("declined job never runs", scenes.declined),
    scenes.Scene("policy enforced by the nodes", scenes.policy_refused),
]


def play(scene: scenes.Scene, demo: Demo) -> Outcome:
    """Run one scene; an expected error makes it `failed` (said plainly) and the story goes on."""
    try:
        return scene.play(demo, scene)
    except DxError as exc:
        note(f"[red]failed:[/] {exc.message}")
        return Outcome(scene.name, "failed", error=exc.message)


def regulator_verdict(demo: Demo, wait_anchor_s: float = 45.0) -> dict:
    """Wait until the anchorer has covered the log, then verify it and meter every dataset's usage."""
    act("The regulator verifies the whole trail against the chain and reads each dataset's metered usage")
    end = time.monotonic() + wait_anchor_s
    verified = verified_export("regulator")
    # The story's entries verify once a checkpoint covers them: wait for the anchorer's next round.
    # (Reading the log is itself logged, so the very latest entries are always a little behind.)
    story_size = verified[0].entries
    while verified[0].anchored_size < story_size and time.monotonic() < end:
        time.sleep(1.0)
        verified = verified_export("regulator")
    report = verified[0]
    usage = {}  # from the chain-checked events of the export the regulator verified
    for name, dataset_id in demo.datasets.items():
        doc = audit_usage("regulator", dataset_id, verified)
        listing = actions.show_dataset("regulator", dataset_id)
        usage[name] = {"dataset_id": dataset_id, "uses": listing["uses"], "max_uses": listing["max_uses"],
                       "jobs": sorted({u["job"] for u in doc.get("uses", []) if u.get("job") is not None})}
        note(f"#{dataset_id} {name:<18} used {listing['uses']}/{listing['max_uses']}")
    verdict = "VERIFIED" if report.ok else "FAILED"
    style = "green" if report.ok else "red"
    note(f"[bold {style}]{verdict}[/]: {report.entries} entries, {report.checkpoints} on-chain checkpoints")
    for f in report.findings:
        note(f"  {f.severity}: {f.problem} {f.detail}")
    return {"ok": report.ok, "report": report.to_json(), "usage": usage}


def print_results(outcomes: list[Outcome], audit: dict | None) -> None:
    if output.json_mode():
        return
    style = {"ok": "green", "refused": "green", "declined": "green", "failed": "red"}
    output.console.print()
    output.console.print(output.table("results", ["scene", "outcome", "job", "MPC result (plaintext)"], [
        (o.scene, f"[{style[o.status]}]{o.status}[/]", o.job_id or "",
         (o.shown or o.summary) if o.status != "failed" else o.error) for o in outcomes]))
    if audit is not None:
        verdict = "[bold green]VERIFIED[/]" if audit["ok"] else "[bold red]NOT VERIFIED[/]"
        output.console.print(f"audit verdict: {verdict}")


def run(small: bool, seed: int, chain: str | None, keep_running: bool) -> dict:
    output.say("[bold]The data exchange[/]: data is usable but not visible, controllable and metered.")
    before = Supervisor.load(get_settings())
    was_running = before is not None and any(s.state == "healthy" for s in before.status()
                                             if s.name != "chain" or before.config.chain != "external")
    summary = bring_up(chain)
    sizes = datagen.SMALL if small else datagen.Sizes()
    scenario = datagen.generate(seed, sizes)
    data_dir = Path(get_settings().data_dir) / "demo-data"
    demo = Demo(scenario, data_dir, datagen.write(scenario, data_dir))
    note(f"synthetic scenario (seed {seed}): {sizes.enterprises} enterprises, {sizes.applicants} applicants "
         f"→ {data_dir}")
    doc: dict[str, Any] = {"stack": summary, "seed": seed, "small": small, "scenes": []}
    try:
        admit_cast()
        publish_data(demo)
        publish_algorithms(demo)
        doc["datasets"], doc["algorithms"] = demo.datasets, demo.algorithms
        for scene in SCENES:
            demo.outcomes.append(play(scene, demo))
        doc["scenes"] = demo.outcomes
        doc["audit"] = regulator_verdict(demo)
    finally:
        if keep_running or was_running:  # a stack someone started before the demo is theirs to stop
            note("the stack keeps running: try `dx audit verify` or `dx catalog search`; `dx down` stops it")
        else:
            sup = Supervisor.load(get_settings())
            if sup:
                sup.down()
    print_results(demo.outcomes, doc["audit"])
    output.emit(doc, lambda: None)
    if any(o.status == "failed" for o in demo.outcomes):
        raise DxError("some scenes of the demo failed", hint="see the results above and `dx logs node-0`")
    if not doc["audit"]["ok"]:
        raise VerificationError("the regulator could not verify the trail", hint="see the findings above")
    return doc
