"""Data-use policies: the document a dataset owner commits on-chain, and the check every node runs on a job.

A dataset listing's `policyHash` (Market) is the sha256 of a canonical JSON policy document kept in the
blob store (CID = cid_from_digest(policyHash)); a zero hash means `DEFAULT_POLICY`. Fields (version 1):
- `min_group_size` (k): every aggregate an algorithm releases covers at least k rows (a job's floor
  parameter, e.g. joint_stats `min_cohort`, must be >= k; histogram bins below it are suppressed).
- `columns`: {column name: rule}. Rules: `join_key` (may be matched on, never released or used as a
  value), `feature` (may enter a model or a score, and an aggregate), `aggregate_only` (only inside an
  aggregate over >= k rows), `not_usable`. Unnamed columns: id-role columns are join keys, others features.
- `allowed_algorithms`: null (any) or [{"listing_id", "code_hash"}]; `allowed_buyers`: null (any member)
  or [addresses].
- `id_lookups`: {"per_job", "per_period", "period_seconds"}: how many IDs one buyer may probe against
  this listing's join key in one job and in a sliding period (the report's brute-force enumeration, L319).
- `pre_approve`: whether a job the listing's on-chain pre-approval lets through needs no owner signature.
- `reveal_absence`: whether a per-row answer may tell the receiver which of its IDs this table lacks
  (secret_model_score's `unmatched: flag`); false (the default, omitted from the document) refuses
  such a job (rule `reveal-absence`). Programs whose answer is membership itself (multi_lender,
  blacklist_match) are the owner's to allow by approval, `allowed_algorithms` and `id_lookups`.
- `difference_scope`: whose earlier released cohorts the differencing guard (mpc_compute/guard.py)
  compares a new aggregate's cohort with: `any` buyer's (the default, omitted from the document) or
  the same `buyer`'s only.

A listing may also carry a differential-privacy budget on-chain (Market.setPrivacyBudget, micro-ε): each
job over it reserves the listing's per-job ε at request, and `check_job` then requires the job to release
with that much noise (params `dp_epsilon`, in ε) through an algorithm that supports it: rule
`privacy-budget`.

`check_job` is pure: it takes the spec, the manifests, the library algorithm and what the chain says
(`JobFacts`, one `ListingFacts` per dataset) and raises `PolicyViolation(rule, message)` naming the rule.
The nodes call it before computing; the regulator's compliance check calls it again after the fact.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.types import MICRO_EPS
from dx_core.cid import cid_from_digest
from mpc_compute.job_spec import JobInput, JobSpec
from mpc_compute.manifest import CanonicalDocument, Column, Manifest, digest_mismatch

POLICY_VERSION = 1
RULES = ("join_key", "feature", "aggregate_only", "not_usable")
# Which rules let a column serve each use an algorithm role declares (Role.use).
PERMITS = {
    "join_key": {"join_key", "query"},
    "feature": {"feature", "aggregate", "query"},
    "aggregate_only": {"aggregate"},
    "not_usable": set(),
}
RULE_WORDS = {
    "join_key": "join key only (matched on, never released)",
    "feature": "feature (may enter a model, a score or an aggregate)",
    "aggregate_only": "aggregate only (over at least k rows)",
    "not_usable": "not usable",
}
ZERO32 = b"\0" * 32
PRIVACY_BUDGET_RULE = "privacy-budget"
DIFFERENCE_SCOPES = ("any", "buyer")


class PolicyError(ValueError):
    """A policy document that is malformed."""


class PolicyViolation(Exception):
    """A job the policy does not allow; `rule` names the rule that refused it."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"policy rule {rule!r}: {message}")
        self.rule = rule


@dataclass(frozen=True)
class IdLookupCaps:
    per_job: int = 10_000
    per_period: int = 100_000
    period_seconds: int = 86_400

    def to_dict(self) -> dict:
        return {"per_job": self.per_job, "per_period": self.per_period, "period_seconds": self.period_seconds}


@dataclass(frozen=True)
class AllowedAlgorithm:
    listing_id: int
    code_hash: str  # hex, no 0x

    def to_dict(self) -> dict:
        return {"listing_id": self.listing_id, "code_hash": self.code_hash}


@dataclass(frozen=True)
class Policy(CanonicalDocument):
    min_group_size: int = 10
    columns: dict[str, str] = field(default_factory=dict)
    allowed_algorithms: tuple[AllowedAlgorithm, ...] | None = None
    allowed_buyers: tuple[str, ...] | None = None
    id_lookups: IdLookupCaps = field(default_factory=IdLookupCaps)
    pre_approve: bool = False
    difference_scope: str = "any"
    reveal_absence: bool = False
    version: int = POLICY_VERSION

    def __post_init__(self) -> None:
        if self.version != POLICY_VERSION:
            raise PolicyError(f"unsupported policy version {self.version!r}")
        if self.difference_scope not in DIFFERENCE_SCOPES:
            raise PolicyError(
                f"difference_scope must be one of {DIFFERENCE_SCOPES}, got {self.difference_scope!r}"
            )
        if not isinstance(self.min_group_size, int) or self.min_group_size < 1:
            raise PolicyError(f"min_group_size must be an integer >= 1, got {self.min_group_size!r}")
        for name, rule in self.columns.items():
            if rule not in RULES:
                raise PolicyError(f"column {name!r}: rule {rule!r} is not one of {RULES}")
        caps = self.id_lookups
        for label, value in (
            ("per_job", caps.per_job),
            ("per_period", caps.per_period),
            ("period_seconds", caps.period_seconds),
        ):
            if not isinstance(value, int) or value < 0:
                raise PolicyError(f"id_lookups.{label} must be an integer >= 0, got {value!r}")

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "min_group_size": self.min_group_size,
            "columns": dict(sorted(self.columns.items())),
            "allowed_algorithms": None
            if self.allowed_algorithms is None
            else [a.to_dict() for a in self.allowed_algorithms],
            "allowed_buyers": None if self.allowed_buyers is None else sorted(self.allowed_buyers),
            "id_lookups": self.id_lookups.to_dict(),
            "pre_approve": self.pre_approve,
            # only when not the default, so that documents written before the field stay canonical
            **({"difference_scope": self.difference_scope} if self.difference_scope != "any" else {}),
            **({"reveal_absence": True} if self.reveal_absence else {}),
        }

    def chain_hash(self) -> bytes:
        """The listing's on-chain policyHash: zero for the default policy, else the document's sha256."""
        return ZERO32 if self == DEFAULT_POLICY else self.digest()

    def rule_for(self, column: Column) -> str:
        if column.name in self.columns:
            return self.columns[column.name]
        return "join_key" if column.role == "id" else "feature"

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Policy:
        try:
            algorithms = doc.get("allowed_algorithms")
            buyers = doc.get("allowed_buyers")
            caps = doc.get("id_lookups") or {}
            return cls(
                version=int(doc.get("version", POLICY_VERSION)),
                min_group_size=int(doc.get("min_group_size", 10)),
                columns={str(k): str(v) for k, v in (doc.get("columns") or {}).items()},
                allowed_algorithms=None
                if algorithms is None
                else tuple(
                    AllowedAlgorithm(int(a["listing_id"]), str(a["code_hash"]).lower().removeprefix("0x"))
                    for a in algorithms
                ),
                allowed_buyers=None if buyers is None else tuple(str(b).lower() for b in buyers),
                id_lookups=IdLookupCaps(
                    int(caps.get("per_job", 10_000)),
                    int(caps.get("per_period", 100_000)),
                    int(caps.get("period_seconds", 86_400)),
                ),
                pre_approve=bool(doc.get("pre_approve", False)),
                difference_scope=str(doc.get("difference_scope", "any")),
                reveal_absence=_flag(doc.get("reveal_absence", False), "reveal_absence"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, PolicyError):
                raise
            raise PolicyError(f"policy document is malformed: {exc!r}") from None

    @classmethod
    def from_bytes(cls, data: bytes, expected_digest: bytes | None = None) -> Policy:
        """Parse policy bytes; with `expected_digest`, refuse bytes that do not hash to it."""
        if (actual := digest_mismatch(data, expected_digest)) is not None:
            raise PolicyError(
                f"policy document hashes to {actual}, the listing commits to {expected_digest.hex()}"
            )
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PolicyError(f"policy document is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise PolicyError("policy document must be a JSON object")
        policy = cls.from_dict(doc)
        if policy.to_bytes() != data:
            raise PolicyError("policy bytes are not in canonical form (sorted keys, no spaces, all fields)")
        return policy


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{name} must be true or false, got {value!r}")
    return value


DEFAULT_POLICY = Policy()


def load_policy(policy_hash: bytes, fetch: Callable[[str], bytes]) -> Policy:
    """The policy a listing's hash names (zero: the default), fetched by that hash and checked against it."""
    if bytes(policy_hash) == ZERO32:
        return DEFAULT_POLICY
    try:
        return Policy.from_bytes(fetch(cid_from_digest(bytes(policy_hash))), bytes(policy_hash))
    except PolicyError as exc:
        raise PolicyViolation("policy-document", str(exc)) from None
    except Exception as exc:  # a missing document refuses the job: the node cannot know what it allows
        raise PolicyViolation(
            "policy-document",
            f"policy document {bytes(policy_hash).hex()[:16]}... could not be fetched: {exc}",
        ) from None


def describe(policy: Policy) -> list[str]:
    """The policy in words, one line per rule (CLI, approvals, the regulator's report)."""
    caps = policy.id_lookups
    lines = [
        f"minimum group size k = {policy.min_group_size}: no aggregate over fewer rows is released",
        f"differencing guard: no cohort within k rows of an earlier released cohort of "
        f"{'any buyer' if policy.difference_scope == 'any' else 'the same buyer'}",
        "algorithms: any listed algorithm"
        if policy.allowed_algorithms is None
        else "algorithms: only "
        + ", ".join(
            f"listing {a.listing_id} (code {a.code_hash[:12]}...)" for a in policy.allowed_algorithms
        ),
        "buyers: any member"
        if policy.allowed_buyers is None
        else "buyers: only " + ", ".join(policy.allowed_buyers),
        f"ID lookups: at most {caps.per_job} per job and {caps.per_period} per buyer every "
        f"{caps.period_seconds} s",
        "jobs the on-chain pre-approval admits run without the owner's signature"
        if policy.pre_approve
        else "every job needs the owner's signature",
        "per-row answers may say which of a buyer's IDs this table lacks"
        if policy.reveal_absence
        else "no per-row answer says which of a buyer's IDs this table lacks (missing rows are imputed)",
    ]
    named = ", ".join(f"{c}: {RULE_WORDS[r]}" for c, r in sorted(policy.columns.items()))
    lines.append(
        "columns: "
        + (named + "; " if named else "")
        + "other ID columns join key only, other columns features"
    )
    return lines


# ---------------------------------------------------------------- what the chain says about a job


@dataclass(frozen=True)
class ListingFacts:
    """A dataset listing as the chain states it, with the policy document its job-time hash names."""

    listing_id: int
    owner: str
    policy: Policy
    policy_hash: bytes  # as bound in the job's terms (zero: DEFAULT_POLICY)


@dataclass(frozen=True)
class JobFacts:
    """A job as the chain states it: who buys, which algorithm listing, who approved."""

    job_id: int
    buyer: str
    algorithm_listing_id: int
    algorithm_name: str
    algorithm_version: str
    algorithm_code_hash: bytes
    # dataset listing ids whose owner signed (or sent) an approval for this job
    approved_by_owner: frozenset[int] = frozenset()
    # dataset listing id -> IDs this buyer probed against it in the period before this job
    lookups_in_period: dict[int, int] = field(default_factory=dict)
    # dataset listing id -> micro-ε this job reserved of its privacy budget on-chain (absent or 0: none)
    reserved_micro_eps: dict[int, int] = field(default_factory=dict)


def policy_digest(policy_hashes: list[bytes] | tuple[bytes, ...]) -> bytes:
    """sha256("dx-policies/v1" || hashes): what each node attests it enforced (ComputeJobs.policyDigestOf)."""
    return hashlib.sha256(b"dx-policies/v1" + b"".join(bytes(h) for h in policy_hashes)).digest()


def _role_of(algorithm, job_input: JobInput):
    from mpc_compute.algorithms.base import role_for

    role = role_for(algorithm, job_input.name)
    if role is None:
        raise PolicyViolation("role-kind", f"input {job_input.name!r} fills no role of {algorithm.name}")
    return role


def input_columns(manifest: Manifest, job_input: JobInput) -> list[Column]:
    """The schema columns an input uses: the selected columns of its array (all when none selected)."""
    arr = manifest.array(job_input.array)
    names = list(job_input.columns) if job_input.columns is not None else list(arr.columns)
    by_name = {c.name: c for c in manifest.columns}
    return [by_name.get(n, Column(n, "float64" if arr.dtype.startswith("float") else "int64")) for n in names]


def probes(spec: JobSpec, manifests: dict[str, Manifest], algorithm) -> dict[int, int]:
    """Dataset listing id -> how many IDs the job probes against its join key: the rows of the buyer's
    query (every answer is per query row, so only its IDs are looked up), or, for a program with no
    query (an intersection), the rows of the job's other ID inputs."""
    keyed, id_rows, has_query = set(), [], False
    for job_input in spec.inputs:
        use = _role_of(algorithm, job_input).use
        if job_input.kind == "dataset" and use in ("join_key", "query"):
            shape = manifests[job_input.manifest_hash].array(job_input.array).shape
            id_rows.append((job_input.listing_id, int(shape[0]) if shape else 1, use))
            if use == "join_key":
                keyed.add(job_input.listing_id)
            has_query = has_query or use == "query"
    probing = [(lid, rows) for lid, rows, use in id_rows if use == "query" or not has_query]
    return {lid: sum(rows for other, rows in probing if other != lid) for lid in sorted(keyed)}


def group_floor(spec: JobSpec, algorithm) -> int | None:
    """The job's floor on released group sizes (its floor parameter), or None when it has none."""
    name = algorithm.group_floor_param
    return None if name is None else int(spec.params.get(name, 0))


def check_job(
    spec: JobSpec,
    manifests: dict[str, Manifest],
    algorithm,
    job: JobFacts,
    listings: dict[int, ListingFacts],
) -> None:
    """Raise PolicyViolation unless the algorithm is the listed one and every dataset's policy allows the job.

    `algorithm` is the library's mpc_compute.algorithms.Algorithm the node would run for the spec.
    """
    # the algorithm that runs is the one the buyer bought and the owners approved
    if (spec.algorithm, spec.algorithm_version) != (job.algorithm_name, job.algorithm_version):
        raise PolicyViolation(
            "algorithm-binding",
            f"the spec runs {spec.algorithm}@{spec.algorithm_version}, algorithm listing "
            f"{job.algorithm_listing_id} is {job.algorithm_name}@{job.algorithm_version}",
        )
    if algorithm.code_hash != job.algorithm_code_hash:
        raise PolicyViolation(
            "algorithm-binding",
            f"this node's {algorithm.name}@{algorithm.version} has code hash "
            f"{algorithm.code_hash.hex()[:16]}..., algorithm listing {job.algorithm_listing_id} commits to "
            f"{job.algorithm_code_hash.hex()[:16]}...",
        )
    buyer = job.buyer.lower()
    for job_input in spec.inputs:
        role = _role_of(algorithm, job_input)
        wanted = "model" if role.kind == "model" else "dataset"
        if job_input.kind != wanted:
            raise PolicyViolation(
                "role-kind",
                f"input {job_input.name!r} fills the {role.kind} role {role.name!r} but is a "
                f"{job_input.kind} listing",
            )
        if role.kind == "model":
            if job_input.listing_id != job.algorithm_listing_id:
                raise PolicyViolation(
                    "role-kind",
                    f"input {job_input.name!r}: the model must be the job's own algorithm listing "
                    f"{job.algorithm_listing_id}, not listing {job_input.listing_id}",
                )
            fixed = manifests[job_input.manifest_hash].public_params
            if spec.params != fixed:
                raise PolicyViolation(
                    "model-params",
                    f"model listing {job_input.listing_id} fixes its public parameters to {fixed}, "
                    f"the spec asks {spec.params}",
                )
            continue
        facts = listings.get(job_input.listing_id)
        if facts is None:
            raise PolicyViolation(
                "listing", f"input {job_input.name!r}: dataset {job_input.listing_id} is not in the job"
            )
        if role.kind == "query" and facts.owner.lower() != buyer:
            raise PolicyViolation(
                "role-kind",
                f"input {job_input.name!r} is the buyer's query, but dataset {job_input.listing_id} "
                f"belongs to {facts.owner}, not the buyer {job.buyer}",
            )
        for column in input_columns(manifests[job_input.manifest_hash], job_input):
            rule = facts.policy.rule_for(column)
            if role.use not in PERMITS[rule]:
                raise PolicyViolation(
                    "column-rule",
                    f"dataset {job_input.listing_id} column {column.name!r} is {RULE_WORDS[rule]}; "
                    f"{algorithm.name} uses input {job_input.name!r} as {role.use}",
                )
    check_privacy_budget(spec, algorithm, job)
    probed = probes(spec, manifests, algorithm)
    floor = group_floor(spec, algorithm)
    aggregated = {
        i.listing_id for i in spec.inputs if i.kind == "dataset" and _role_of(algorithm, i).use == "aggregate"
    }
    for listing_id, facts in sorted(listings.items()):
        policy = facts.policy
        if facts.owner.lower() == buyer:
            continue  # an owner's own data: its policy binds others, not itself
        if policy.allowed_algorithms is not None and not any(
            a.listing_id == job.algorithm_listing_id and a.code_hash == job.algorithm_code_hash.hex()
            for a in policy.allowed_algorithms
        ):
            raise PolicyViolation(
                "allowed-algorithms",
                f"dataset {listing_id} allows only algorithm listings "
                f"{[a.listing_id for a in policy.allowed_algorithms]} (with their code hashes); the job uses "
                f"listing {job.algorithm_listing_id}",
            )
        if policy.allowed_buyers is not None and buyer not in policy.allowed_buyers:
            raise PolicyViolation("allowed-buyers", f"dataset {listing_id} does not allow buyer {job.buyer}")
        if listing_id not in job.approved_by_owner and not policy.pre_approve:
            raise PolicyViolation(
                "pre-approval",
                f"dataset {listing_id}'s owner did not approve job {job.job_id}, and its policy "
                "pre-approves nothing",
            )
        k = policy.min_group_size
        # an algorithm with a floor parameter releases only aggregates (an intersection size is one too)
        if floor is not None or listing_id in aggregated:
            if floor is not None and floor < k:
                raise PolicyViolation(
                    "min-group-size",
                    f"dataset {listing_id} requires aggregates over at least k = {k} rows; the job's "
                    f"{algorithm.group_floor_param} is {floor}",
                )
            if floor is None:
                rows = sum(
                    int(manifests[i.manifest_hash].array(i.array).shape[0])
                    for i in spec.inputs
                    if i.kind == "dataset" and _role_of(algorithm, i).use == "aggregate"
                )
                if rows < k:
                    raise PolicyViolation(
                        "min-group-size",
                        f"dataset {listing_id} requires at least k = {k} rows; the job has {rows}",
                    )
        absence = algorithm.reveals_absence is not None and algorithm.reveals_absence(spec.params)
        if absence and listing_id in probed and not policy.reveal_absence:
            raise PolicyViolation(
                "reveal-absence",
                f"the job would tell its receiver which of its IDs dataset {listing_id} lacks "
                f"({algorithm.name} {spec.params}), and the dataset's policy does not allow that "
                "(reveal_absence is false)",
            )
        caps = policy.id_lookups
        if listing_id in probed:
            n = probed[listing_id]
            if n > caps.per_job:
                raise PolicyViolation(
                    "id-lookups-per-job",
                    f"the job probes {n} IDs against dataset {listing_id}, whose policy allows "
                    f"{caps.per_job} per job",
                )
            before = job.lookups_in_period.get(listing_id, 0)
            if before + n > caps.per_period:
                raise PolicyViolation(
                    "id-lookups-per-period",
                    f"buyer {job.buyer} probed {before} IDs against dataset {listing_id} in the last "
                    f"{caps.period_seconds} s; {n} more exceed its cap of {caps.per_period}",
                )


def supports_dp(algorithm) -> bool:
    """Whether the algorithm can release its outputs with differential-privacy noise (`dp_epsilon`)."""
    return "dp_epsilon" in algorithm.params_doc


def check_privacy_budget(spec: JobSpec, algorithm, job: JobFacts) -> None:
    """Refuse (rule privacy-budget) a job that reserved ε on a dataset but would not release with that ε.

    The chain charged the job's datasets their per-job ε; the release must be noised with exactly the ε
    charged, or the on-chain account of privacy loss would not bound the real one. With several budgeted
    datasets the noise is the smallest reservation: each dataset is then charged at least what it loses.
    Applies to an owner's own dataset too, since its budget was charged all the same.
    """
    reserved = {lid: micro for lid, micro in job.reserved_micro_eps.items() if micro > 0}
    if not reserved:
        return
    budgeted = ", ".join(str(lid) for lid in sorted(reserved))
    if not supports_dp(algorithm):
        raise PolicyViolation(
            PRIVACY_BUDGET_RULE,
            f"dataset(s) {budgeted} have a privacy budget, and {algorithm.name} cannot release with "
            "differential privacy (no dp_epsilon parameter)",
        )
    # The noise is calibrated to one row per person: a dataset fed in twice counts each person twice,
    # releasing 2ε of it for the ε charged.
    repeated = sorted(
        lid
        for lid in reserved
        if sum(1 for i in spec.inputs if i.kind == "dataset" and i.listing_id == lid) > 1
    )
    if repeated:
        raise PolicyViolation(
            PRIVACY_BUDGET_RULE,
            f"dataset(s) {', '.join(map(str, repeated))} have a privacy budget and fill more than one input: "
            "each row would count twice against noise calibrated to one",
        )
    need = min(reserved.values())
    eps = spec.params.get("dp_epsilon")
    valid = isinstance(eps, int | float) and not isinstance(eps, bool) and math.isfinite(eps) and eps > 0
    if not valid:
        raise PolicyViolation(
            PRIVACY_BUDGET_RULE,
            f"dataset(s) {budgeted} have a privacy budget: the job reserved ε {need / MICRO_EPS:g} and must "
            f"set dp_epsilon to it, not {eps!r}",
        )
    if round(eps * MICRO_EPS) != need:
        raise PolicyViolation(
            PRIVACY_BUDGET_RULE,
            f"the job reserved ε {need / MICRO_EPS:g} on dataset(s) {budgeted}, but its dp_epsilon is "
            f"{eps:g}",
        )


def required_floor(spec_params: dict[str, Any], algorithm, policies: list[Policy]) -> dict[str, Any]:
    """The spec parameters with the algorithm's group floor raised to the largest k of `policies`
    (what a buyer's client sends, so that the nodes' max(floor, k) check passes)."""
    name = algorithm.group_floor_param
    if name is None or not policies:
        return dict(spec_params)
    k = max(p.min_group_size for p in policies)
    params = dict(spec_params)
    params[name] = max(int(params.get(name, 0)), k)
    return params
