"""The demo's cast: who is admitted with which roles, what each lists, and the state of one run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dx import actions, datagen, identities, output
from dx.errors import DxError

# mpc_compute.algorithms is imported inside publish_algorithms: it loads jax, which `dx --help` should
# not wait for.

CAST_ROLES = {
    "tax-bureau": ["provider"],
    "telecom": ["provider"],
    "bank-a": ["provider", "buyer"],
    "bank-b": ["provider", "buyer"],
    "model-vendor": ["algorithm-provider"],
    "regulator": ["regulator"],
}
TAX_COLS = "enterprise_id,revenue,tax_paid,filings_late"
TELECOM_COLS = "enterprise_id,monthly_spend,tenure_months,payment_delays"
# (dataset name, owner, csv, schema, max uses, price per use in wei)
LISTINGS = [
    ("tax", "tax-bureau", "tax", TAX_COLS, 20, 1000),
    ("telecom", "telecom", "telecom", TELECOM_COLS, 20, 800),
    ("tax_scaled", "tax-bureau", "tax_scaled", TAX_COLS, 20, 1000),
    ("telecom_scaled", "telecom", "telecom_scaled", TELECOM_COLS, 20, 800),
    ("loans_bank_a", "bank-a", "loans_bank_a", "enterprise_id,loan_amount:float64:label", 20, 0),
    ("loans_bank_b", "bank-b", "loans_bank_b", "enterprise_id,loan_amount:float64:label", 1, 500),
    ("applicants_bank_a", "bank-a", "applicants_bank_a", "enterprise_id,defaulted:float64:label", 20, 0),
    ("blacklist", "tax-bureau", "blacklist", "enterprise_id", 20, 0),
]
# Data-use policies the owners set (the others keep the default: k = 10, IDs join keys only). The tax
# bureau releases its figures only in groups of 20 and tax paid only inside aggregates; the telecom keeps
# payment delays out of every job; the blacklist answers at most 500 IDs per job, 2,000 a day per buyer.
POLICIES = {
    "tax": {"min_group_size": 20, "columns": {"tax_paid": "aggregate_only"}},
    "telecom": {"columns": {"payment_delays": "not_usable"}},
    "blacklist": {"id_lookups": {"per_job": 500, "per_period": 2000, "period_seconds": 86400}},
}
# Secret models: (listing key, model file, title); each is a listing of secret_model_score.
SECRET_MODELS = [("credit_model", "credit_model", "credit score model (secret)"),
                 ("aml_model", "aml_model", "AML risk model (secret)")]


@dataclass
class Outcome:
    """What one scene did: ok, refused/declined as the story wants, or failed."""

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


def act(text: str) -> None:
    """The heading line of one act of the story."""
    output.say(f"\n[bold cyan]▶ {text}[/]")


def note(text: str) -> None:
    output.say(f"  {text}")


def admit_cast() -> None:
    act("The operator admits the members and registers the three-node compute cluster")
    for name, roles in CAST_ROLES.items():
        res = actions.admit_member("operator", name, roles, None)
        note(f"{name:<13} {res['address']}  {', '.join(res['roles'])}")
    cluster = actions.register_cluster("operator")
    for n in cluster["nodes"]:
        note(f"node {n['index']}        {n['address']}  SPU link {n['spu_address']}")


def publish_data(demo: Demo) -> None:
    act("Sellers secret-share their datasets for the three nodes and list them (no plaintext leaves)")
    from mpc_compute.policy import Policy

    for name, owner, file_key, schema, max_uses, price in LISTINGS:
        policy = Policy.from_dict(POLICIES.get(name, {}))
        res = actions.publish_dataset(owner, demo.files[file_key], schema, price, max_uses, name,
                                      description=f"{name} by {owner}, keyed by enterprise ID", policy=policy)
        demo.datasets[name] = res["dataset_id"]
        note(f"#{res['dataset_id']} {name:<18} by {owner:<11} {res['rows']:>4} rows, max uses {max_uses}, "
             f"manifest {res['manifest_hash'][:18]}…")
        if name in POLICIES:
            rules = res["policy"]
            note(f"   policy: {'; '.join([rules[0], rules[3], rules[5]])}")


def publish_algorithms(demo: Demo) -> None:
    from mpc_compute.algorithms import ALGORITHMS

    act("The model vendor lists the algorithms; its scoring models are secret-shared like data")
    for name in sorted(ALGORITHMS):
        res = actions.publish_algorithm("model-vendor", name, None, 0, 50)
        demo.algorithms[name] = res["algorithm_id"]
        note(f"#{res['algorithm_id']} {res['title']}")
    for key, file_key, title in SECRET_MODELS:
        res = actions.publish_algorithm("model-vendor", "secret_model_score", demo.files[file_key], 0, 50,
                                        title=title)
        demo.algorithms[key] = res["algorithm_id"]
        note(f"#{res['algorithm_id']} {title}: parameters shared, commitment "
             f"{res['secret_params_hash'][:18]}…")
