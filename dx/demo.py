"""The demo: the exchange's story played end to end against the local stack, with plaintext checks.

Acts: the stack starts; the operator admits the cast and registers the cluster; sellers publish
datasets keyed by enterprise ID and the vendor publishes its secret models; then the jobs of
`dx.demo_scenes` run (each checked against a plaintext answer computed only for the demo), a request
beyond a listing's max uses is refused, a declined job never runs; the regulator verifies the trail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dx import actions, datagen, identities, output
from dx.commands.stack_cmds import bring_up
from dx.errors import DxError, VerificationError
from dx_core.settings import get_settings

CAST_ROLES = {
    "tax-bureau": ["provider"],
    "telecom": ["provider"],
    "bank-a": ["provider", "buyer"],
    "bank-b": ["provider", "buyer"],
    "model-vendor": ["algorithm-provider"],
    "regulator": ["regulator"],
}


@dataclass
class Outcome:
    """What one scene did: ok, refused/declined as the story wants, skipped (not available) or failed."""

    scene: str
    status: str
    summary: str = ""
    job_id: int | None = None
    result: Any = None
    plaintext: Any = None
    checks: list[str] = field(default_factory=list)
    error: str | None = None
    shown: str = ""  # the MPC answer beside the plaintext one, for the results table


@dataclass
class Demo:
    """Shared state of one run: data, listings by name, algorithm listings by name, outcomes."""

    scenario: datagen.Scenario
    data_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    datasets: dict[str, int] = field(default_factory=dict)
    algorithms: dict[str, int] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    def name_of(self, address: str) -> str:
        for acct in identities.list_accounts():
            if acct.address.lower() == address.lower():
                return acct.name
        raise DxError(f"no local account owns {address}")


def story(text: str) -> None:
    output.say(f"\n[bold cyan]▶ {text}[/]")


def note(text: str) -> None:
    output.say(f"  {text}")


TAX_COLS = "enterprise_id,revenue,tax_paid,filings_late"
TELECOM_COLS = "enterprise_id,monthly_spend,tenure_months,payment_delays"
# (dataset name, owner, csv, schema, max uses, price per use in wei)
LISTINGS = [
    ("tax", "tax-bureau", "tax", TAX_COLS, 20, 1000),
    ("telecom", "telecom", "telecom", TELECOM_COLS, 20, 800),
    ("tax_applicants", "tax-bureau", "tax_applicants", TAX_COLS, 20, 1000),
    ("telecom_applicants", "telecom", "telecom_applicants", TELECOM_COLS, 20, 800),
    ("loans_bank_a", "bank-a", "loans_bank_a", "enterprise_id,loan_amount:float64:label", 20, 0),
    ("loans_bank_b", "bank-b", "loans_bank_b", "enterprise_id,loan_amount:float64:label", 1, 500),
    ("applicants_bank_a", "bank-a", "applicants_bank_a", "enterprise_id,defaulted:float64:label", 20, 0),
    ("blacklist", "tax-bureau", "blacklist", "enterprise_id", 20, 0),
]
# Secret models: (listing key, model file, title); each is a listing of secret_model_score.
SECRET_MODELS = [("credit_model", "credit_model", "credit score model (secret)"),
                 ("aml_model", "aml_model", "AML risk model (secret)")]


def admit_cast() -> None:
    story("The operator admits the members and registers the three-node compute cluster")
    for name, roles in CAST_ROLES.items():
        res = actions.admit_member("operator", name, roles, None)
        note(f"{name:<13} {res['address']}  {', '.join(res['roles'])}")
    cluster = actions.register_cluster("operator")
    for n in cluster["nodes"]:
        note(f"node {n['index']}        {n['address']}  SPU link {n['spu_address']}")


def publish_data(demo: Demo) -> None:
    story("Sellers secret-share their datasets for the three nodes and list them (no plaintext leaves)")
    for name, owner, file_key, schema, max_uses, price in LISTINGS:
        res = actions.publish_dataset(owner, demo.files[file_key], schema, price, max_uses, name,
                                      description=f"{name} by {owner}, keyed by enterprise ID")
        demo.datasets[name] = res["dataset_id"]
        note(f"#{res['dataset_id']} {name:<18} by {owner:<11} {res['rows']:>4} rows, max uses {max_uses}, "
             f"manifest {res['manifest_hash'][:18]}…")


def publish_algorithms(demo: Demo) -> None:
    from mpc_compute.algorithms import ALGORITHMS

    story("The model vendor lists the algorithms; its scoring models are secret-shared like data")
    for name in sorted(ALGORITHMS):
        res = actions.publish_algorithm("model-vendor", name, None, 0, 50)
        demo.algorithms[name] = res["algorithm_id"]
        note(f"#{res['algorithm_id']} {res['title']}")
    if "secret_model_score" in ALGORITHMS:
        for key, file_key, title in SECRET_MODELS:
            res = actions.publish_algorithm("model-vendor", "secret_model_score", demo.files[file_key], 0, 50,
                                            title=title)
            demo.algorithms[key] = res["algorithm_id"]
            note(f"#{res['algorithm_id']} {title}: parameters shared, commitment "
                 f"{res['secret_params_hash'][:18]}…")


def run_job(demo: Demo, buyer: str, algorithm: str, inputs: list[str], params: list[str] | None = None,
            receiver: str | None = None) -> tuple[int, dict[str, Any]]:
    """Request, have every owner approve, wait for the nodes, reconstruct as the receiver."""
    from dx.actions.buyer import reconstruct

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


def regulator_verdict(demo: Demo, wait_anchor_s: float = 45.0) -> dict:
    """Wait until the anchorer has covered the log, then verify it and meter every dataset's usage."""
    from dx.actions.audit import audit_usage, verify_report

    story("The regulator verifies the whole trail against the chain and reads each dataset's metered usage")
    end = time.monotonic() + wait_anchor_s
    report = verify_report("regulator")
    # The story's entries verify once a checkpoint covers them: wait for the anchorer's next round.
    # (Reading the log is itself logged, so the very latest entries are always a little behind.)
    story_size = report.entries
    while report.anchored_size < story_size and time.monotonic() < end:
        time.sleep(1.0)
        report = verify_report("regulator")
    usage = {}
    for name, dataset_id in demo.datasets.items():
        doc = audit_usage("regulator", dataset_id)
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


def run(small: bool, seed: int, chain: str | None, keep_running: bool) -> dict:
    from dx import demo_scenes
    from dx.commands.stack_cmds import Supervisor

    output.say("[bold]The data exchange[/]: data is usable but not visible, controllable and metered.")
    before = Supervisor.load(get_settings())
    was_running = before is not None and any(s.state == "healthy" for s in before.status()
                                             if s.name != "chain" or before.config.chain != "external")
    summary = bring_up(chain)
    missing = list(summary["notes"])
    sizes = datagen.SMALL if small else datagen.Sizes()
    scenario = datagen.generate(seed, sizes)
    data_dir = Path(get_settings().data_dir) / "demo-data"
    demo = Demo(scenario, data_dir, datagen.write(scenario, data_dir))
    note(f"synthetic scenario (seed {seed}): {sizes.enterprises} enterprises, {sizes.applicants} applicants "
         f"→ {data_dir}")
    doc: dict[str, Any] = {"stack": summary, "seed": seed, "small": small, "scenes": [],
                           "not_available": missing}
    try:
        admit_cast()
        publish_data(demo)
        publish_algorithms(demo)
        doc["datasets"], doc["algorithms"] = demo.datasets, demo.algorithms
        for scene in demo_scenes.SCENES:
            demo.outcomes.append(demo_scenes.play(scene, demo))
        doc["scenes"] = demo.outcomes
        doc["audit"] = regulator_verdict(demo)
    finally:
        if keep_running or was_running:  # a stack someone started before the demo is theirs to stop
            note("the stack keeps running: try `dx audit verify` or `dx catalog search`; `dx down` stops it")
        else:
            sup = Supervisor.load(get_settings())
            if sup:
                sup.down()
    doc["not_available"] = missing + [f"{o.scene}: {o.error}" for o in demo.outcomes if o.status == "skipped"]
    demo_scenes.print_results(demo.outcomes, doc["audit"], doc["not_available"])
    output.emit(doc, lambda: None)
    if any(o.status == "failed" for o in demo.outcomes):
        raise DxError("some scenes of the demo failed", hint="see the results above and `dx logs node-0`")
    if not doc["audit"]["ok"]:
        raise VerificationError("the regulator could not verify the trail", hint="see the findings above")
    return doc
