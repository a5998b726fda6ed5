"""Data-use policies: documents, and the pure check every node runs (including a property test against an
independent restatement of the rules)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc_compute.algorithms import ALGORITHMS
from mpc_compute.job_spec import JobInput, JobSpec
from mpc_compute.manifest import ArraySpec, Column, Manifest
from mpc_compute.policy import (
    DEFAULT_POLICY,
    RULES,
    ZERO32,
    AllowedAlgorithm,
    IdLookupCaps,
    JobFacts,
    ListingFacts,
    Policy,
    PolicyError,
    PolicyViolation,
    check_job,
    describe,
    required_floor,
)

BUYER, SELLER_A, SELLER_B, VENDOR = "0x" + "b" * 40, "0x" + "a" * 40, "0x" + "c" * 40, "0x" + "d" * 40


def dataset_manifest(label: str, rows: int, features: tuple[str, ...] = ("revenue", "tax")) -> Manifest:
    columns = (Column("enterprise_id", "text", "id"), *(Column(f, "float64") for f in features))
    arrays = (
        ArraySpec("id", "int64", (rows,), ("enterprise_id",)),
        ArraySpec("features", "float64", (rows, len(features)), features),
    )
    return Manifest("dataset", label, columns, rows, rows, "00" * 32, arrays, ())


def model_manifest(public_params: dict) -> Manifest:
    return Manifest(
        "model",
        "m",
        (Column("model", "float64", "param"),),
        0,
        0,
        "00" * 32,
        (ArraySpec("model", "float64", (3,), ("model",)),),
        (),
        public_params=public_params,
    )


def facts(
    algorithm: str, listing_id: int = 9, approved=frozenset({1, 2}), lookups=None, code_hash=None
) -> JobFacts:
    alg = ALGORITHMS[algorithm]
    return JobFacts(
        job_id=5,
        buyer=BUYER,
        algorithm_listing_id=listing_id,
        algorithm_name=alg.name,
        algorithm_version=alg.version,
        algorithm_code_hash=code_hash or alg.code_hash,
        approved_by_owner=frozenset(approved),
        lookups_in_period=lookups or {},
    )


def spec_of(algorithm: str, inputs: list[JobInput], params: dict | None = None) -> JobSpec:
    alg = ALGORITHMS[algorithm]
    return JobSpec(alg.name, alg.version, tuple(inputs), (), BUYER, "00" * 32, params or {})


def joint_stats_job(rows=(40, 30), min_cohort=10, columns=None):
    ma, mb = dataset_manifest("a", rows[0]), dataset_manifest("b", rows[1])
    manifests = {"aa" * 32: ma, "bb" * 32: mb}
    inputs = [
        JobInput("data_0", "dataset", 1, "aa" * 32, "features", columns),
        JobInput("data_1", "dataset", 2, "bb" * 32, "features", columns),
    ]
    return spec_of("joint_stats", inputs, {"min_cohort": min_cohort}), manifests


def listings(policy_a: Policy = DEFAULT_POLICY, policy_b: Policy = DEFAULT_POLICY, owner_b: str = SELLER_B):
    return {
        1: ListingFacts(1, SELLER_A, policy_a, policy_a.chain_hash()),
        2: ListingFacts(2, owner_b, policy_b, policy_b.chain_hash()),
    }


def rule_of(spec, manifests, algorithm, job, listed) -> str | None:
    try:
        check_job(spec, manifests, ALGORITHMS[algorithm], job, listed)
    except PolicyViolation as exc:
        return exc.rule
    return None


# ---------------------------------------------------------------- documents


def test_policy_document_round_trips_and_the_default_is_the_zero_hash() -> None:
    policy = Policy(
        min_group_size=25,
        columns={"tax": "aggregate_only", "enterprise_id": "join_key"},
        allowed_algorithms=(AllowedAlgorithm(3, "ab" * 32),),
        allowed_buyers=(BUYER,),
        id_lookups=IdLookupCaps(100, 1000, 3600),
        pre_approve=True,
    )
    assert Policy.from_bytes(policy.to_bytes(), policy.digest()) == policy
    assert policy.chain_hash() == policy.digest() != ZERO32
    assert DEFAULT_POLICY.chain_hash() == ZERO32
    assert DEFAULT_POLICY.min_group_size == 10 and not DEFAULT_POLICY.pre_approve
    with pytest.raises(PolicyError, match="hashes to"):
        Policy.from_bytes(policy.to_bytes(), DEFAULT_POLICY.digest())
    with pytest.raises(PolicyError, match="rule 'secret'"):
        Policy.from_dict({"columns": {"tax": "secret"}})
    with pytest.raises(PolicyError, match="min_group_size"):
        Policy.from_dict({"min_group_size": 0})
    words = "\n".join(describe(policy))
    assert "k = 25" in words and "tax: aggregate only" in words and "100 per job" in words
    assert "earlier released cohort of any buyer" in words


def test_difference_scope_is_canonical_and_old_documents_stay_canonical() -> None:
    mine = Policy(min_group_size=5, difference_scope="buyer")
    assert Policy.from_bytes(mine.to_bytes(), mine.digest()) == mine
    assert b'"difference_scope":"buyer"' in mine.to_bytes()
    # a document written before the field: the default scope, and the same bytes (hence the same hash)
    assert b"difference_scope" not in Policy(min_group_size=5).to_bytes()
    assert "the same buyer" in "\n".join(describe(mine))
    with pytest.raises(PolicyError, match="difference_scope must be one of"):
        Policy.from_dict({"difference_scope": "nobody"})


# ---------------------------------------------------------------- the attacks, one rule each


def test_algorithm_substitution_is_refused() -> None:
    spec, manifests = joint_stats_job()
    bought_as = facts("psi_stats")  # the listing the owners approved is psi_stats
    assert rule_of(spec, manifests, "joint_stats", bought_as, listings()) == "algorithm-binding"
    forged_code = facts("joint_stats", code_hash=b"\x01" * 32)
    assert rule_of(spec, manifests, "joint_stats", forged_code, listings()) == "algorithm-binding"
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings()) is None


def test_one_row_cohort_needs_the_listing_floor() -> None:
    spec, manifests = joint_stats_job(min_cohort=0)
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings()) == "min-group-size"
    spec, manifests = joint_stats_job(min_cohort=10)
    strict = Policy(min_group_size=50)
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings(strict)) == "min-group-size"
    raised = required_floor(spec.params, ALGORITHMS["joint_stats"], [strict, DEFAULT_POLICY])
    assert raised["min_cohort"] == 50


def test_model_fed_as_data_and_buyer_chosen_model_params_are_refused() -> None:
    feats = dataset_manifest("f", 20, ("x", "y"))
    model = model_manifest({"link": "logistic", "scale": 550.0, "offset": 300.0})
    manifests = {"aa" * 32: feats, "mm" * 32: model}
    honest = [
        JobInput("model", "model", 9, "mm" * 32, "model"),
        JobInput("features_0", "dataset", 1, "aa" * 32, "features"),
    ]
    listed = {1: ListingFacts(1, SELLER_A, DEFAULT_POLICY, ZERO32)}
    job = facts("secret_model_score", approved={1})
    ok = spec_of("secret_model_score", honest, {"link": "logistic", "scale": 550.0, "offset": 300.0})
    assert rule_of(ok, manifests, "secret_model_score", job, listed) is None
    chosen = spec_of("secret_model_score", honest, {"link": "linear", "scale": 1.0, "offset": 0.0})
    assert rule_of(chosen, manifests, "secret_model_score", job, listed) == "model-params"
    # the model's secret weights fed into joint_stats' data role: kinds differ
    as_data = spec_of("joint_stats", [JobInput("data_0", "model", 9, "mm" * 32, "model")], {"min_cohort": 10})
    assert (
        rule_of(as_data, manifests, "joint_stats", facts("joint_stats", approved={1}), listed) == "role-kind"
    )


def test_join_keys_are_never_values_and_columns_follow_their_rules() -> None:
    spec, manifests = joint_stats_job(columns=("revenue",))
    policy = Policy(columns={"revenue": "not_usable"})
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings(policy)) == "column-rule"
    policy = Policy(columns={"revenue": "aggregate_only"})
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings(policy)) is None
    # an ID array aggregated as a value: join key only by default
    ids_as_values = spec_of(
        "joint_stats",
        [
            JobInput("data_0", "dataset", 1, "aa" * 32, "id"),
            JobInput("data_1", "dataset", 2, "bb" * 32, "id"),
        ],
        {"min_cohort": 10},
    )
    assert rule_of(ids_as_values, manifests, "joint_stats", facts("joint_stats"), listings()) == "column-rule"
    # aggregate-only data may not enter a per-row score
    model = model_manifest({})
    manifests = {**manifests, "mm" * 32: model}
    score = spec_of(
        "secret_model_score",
        [
            JobInput("model", "model", 9, "mm" * 32, "model"),
            JobInput("features_0", "dataset", 1, "aa" * 32, "features"),
        ],
    )
    agg_only = {1: ListingFacts(1, SELLER_A, Policy(columns={"revenue": "aggregate_only"}), b"\x02" * 32)}
    assert (
        rule_of(score, manifests, "secret_model_score", facts("secret_model_score", approved={1}), agg_only)
        == "column-rule"
    )


def lookup_job(queries: int, blacklist_rows: int = 500):
    manifests = {
        "qq" * 32: dataset_manifest("q", queries, ()),
        "ll" * 32: dataset_manifest("l", blacklist_rows, ()),
    }
    inputs = [
        JobInput("queries", "dataset", 1, "qq" * 32, "id"),
        JobInput("blacklist", "dataset", 2, "ll" * 32, "id"),
    ]
    return spec_of("blacklist_match", inputs), manifests


def test_id_lookups_are_capped_per_job_and_per_period() -> None:
    caps = Policy(id_lookups=IdLookupCaps(per_job=100, per_period=250, period_seconds=3600))
    listed = {
        1: ListingFacts(1, BUYER, DEFAULT_POLICY, ZERO32),  # the buyer's own query listing
        2: ListingFacts(2, SELLER_B, caps, caps.digest()),
    }
    spec, manifests = lookup_job(queries=100)
    job = facts("blacklist_match", approved={2})
    assert rule_of(spec, manifests, "blacklist_match", job, listed) is None
    over, over_manifests = lookup_job(queries=101)
    assert rule_of(over, over_manifests, "blacklist_match", job, listed) == "id-lookups-per-job"
    busy = facts("blacklist_match", approved={2}, lookups={2: 200})
    assert rule_of(spec, manifests, "blacklist_match", busy, listed) == "id-lookups-per-period"
    # a query listing must be the buyer's own: probing with someone else's IDs is not a query
    not_mine = {**listed, 1: ListingFacts(1, SELLER_A, DEFAULT_POLICY, ZERO32)}
    assert (
        rule_of(spec, manifests, "blacklist_match", facts("blacklist_match", approved={1, 2}), not_mine)
        == "role-kind"
    )


def test_intersection_of_one_id_needs_k() -> None:
    manifests = {"aa" * 32: dataset_manifest("a", 1, ()), "bb" * 32: dataset_manifest("b", 500, ())}
    inputs = [
        JobInput("left_ids", "dataset", 1, "aa" * 32, "id"),
        JobInput("right_ids", "dataset", 2, "bb" * 32, "id"),
    ]
    spec = spec_of("psi_stats", inputs, {"min_intersection": 0})
    assert rule_of(spec, manifests, "psi_stats", facts("psi_stats"), listings()) == "min-group-size"
    spec = spec_of("psi_stats", inputs, {"min_intersection": 10})
    assert rule_of(spec, manifests, "psi_stats", facts("psi_stats"), listings()) is None


def test_allowed_algorithms_buyers_and_pre_approval() -> None:
    spec, manifests = joint_stats_job()
    alg = ALGORITHMS["joint_stats"]
    only_other = Policy(allowed_algorithms=(AllowedAlgorithm(4, alg.code_hash.hex()),))
    assert (
        rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings(only_other))
        == "allowed-algorithms"
    )
    this_one = Policy(allowed_algorithms=(AllowedAlgorithm(9, alg.code_hash.hex()),))
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings(this_one)) is None
    others = Policy(allowed_buyers=("0x" + "e" * 40,))
    assert rule_of(spec, manifests, "joint_stats", facts("joint_stats"), listings(others)) == "allowed-buyers"
    unapproved = facts("joint_stats", approved={2})
    assert rule_of(spec, manifests, "joint_stats", unapproved, listings()) == "pre-approval"
    assert rule_of(spec, manifests, "joint_stats", unapproved, listings(Policy(pre_approve=True))) is None


# ---------------------------------------------------------------- property: accept exactly when allowed

policies = st.builds(
    Policy,
    min_group_size=st.integers(1, 60),
    columns=st.dictionaries(st.sampled_from(["revenue", "tax", "enterprise_id"]), st.sampled_from(RULES)),
    allowed_buyers=st.one_of(st.none(), st.just((BUYER,)), st.just(("0x" + "e" * 40,))),
    pre_approve=st.booleans(),
)


def allowed_by_hand(policy: Policy, columns: tuple[str, ...], rows: int, floor: int, approved: bool) -> bool:
    """The rules restated for joint_stats, independently of check_job's code path."""
    for column in columns:
        rule = policy.columns.get(column, "join_key" if column == "enterprise_id" else "feature")
        if rule not in ("feature", "aggregate_only"):
            return False
    if policy.allowed_buyers is not None and BUYER not in policy.allowed_buyers:
        return False
    if not approved and not policy.pre_approve:
        return False
    return floor >= policy.min_group_size


@settings(max_examples=200, deadline=None)
@given(
    policy_a=policies,
    policy_b=policies,
    columns=st.sampled_from([None, ("revenue",), ("tax",), ("revenue", "tax")]),
    floor=st.integers(0, 80),
    approved=st.sets(st.sampled_from([1, 2])),
)
def test_a_node_accepts_exactly_when_every_policy_allows(
    policy_a, policy_b, columns, floor, approved
) -> None:
    spec, manifests = joint_stats_job(min_cohort=floor, columns=columns)
    used = columns or ("revenue", "tax")
    expected = all(
        allowed_by_hand(p, used, 70, floor, lid in approved) for lid, p in ((1, policy_a), (2, policy_b))
    )
    got = rule_of(
        spec, manifests, "joint_stats", facts("joint_stats", approved=approved), listings(policy_a, policy_b)
    )
    assert (got is None) == expected, got


def keyed_score_job(params: dict, applicants: int = 50, table_rows: tuple[int, int] = (400, 300)):
    """secret_model_score, keyed: the buyer's applicants against two sellers' tables of their own IDs."""
    manifests = {
        "qq" * 32: dataset_manifest("q", applicants, ()),
        "aa" * 32: dataset_manifest("a", table_rows[0]),
        "bb" * 32: dataset_manifest("b", table_rows[1]),
        "mm" * 32: model_manifest(params),
    }
    inputs = [
        JobInput("model", "model", 9, "mm" * 32, "model"),
        JobInput("applicants", "dataset", 3, "qq" * 32, "id"),
        JobInput("features_0", "dataset", 1, "aa" * 32, "features"),
        JobInput("ids_0", "dataset", 1, "aa" * 32, "id"),
        JobInput("features_1", "dataset", 2, "bb" * 32, "features"),
        JobInput("ids_1", "dataset", 2, "bb" * 32, "id"),
    ]
    return spec_of("secret_model_score", inputs, params), manifests


def keyed_listings(policy_a: Policy = DEFAULT_POLICY, policy_b: Policy = DEFAULT_POLICY):
    return {**listings(policy_a, policy_b), 3: ListingFacts(3, BUYER, DEFAULT_POLICY, ZERO32)}


def test_flagging_unmatched_rows_needs_every_table_to_reveal_absence() -> None:
    """A buyer asks for `matched`, which tells it which of its applicants a seller's table lacks."""
    job = facts("secret_model_score", approved={1, 2})
    flag, manifests = keyed_score_job({"unmatched": "flag"})
    assert rule_of(flag, manifests, "secret_model_score", job, keyed_listings()) == "reveal-absence"
    revealing = Policy(reveal_absence=True)
    assert rule_of(flag, manifests, "secret_model_score", job, keyed_listings(revealing)) == "reveal-absence"
    assert rule_of(flag, manifests, "secret_model_score", job, keyed_listings(revealing, revealing)) is None
    imputed, manifests = keyed_score_job({"unmatched": "impute"})
    assert rule_of(imputed, manifests, "secret_model_score", job, keyed_listings()) is None
    assert Policy.from_bytes(revealing.to_bytes()) == revealing and "reveal_absence" in revealing.to_dict()
    assert "reveal_absence" not in DEFAULT_POLICY.to_dict()  # older documents stay canonical
    assert "lacks" in "\n".join(describe(revealing))
    with pytest.raises(PolicyError, match="reveal_absence must be true or false"):
        Policy.from_dict({"reveal_absence": "yes"})


def test_a_keyed_join_counts_only_the_buyers_ids_as_probes() -> None:
    """Each table is probed by the applicants only: one seller's rows are never looked up in the other's."""
    caps = Policy(id_lookups=IdLookupCaps(per_job=60, per_period=1000, period_seconds=3600))
    job = facts("secret_model_score", approved={1, 2})
    spec, manifests = keyed_score_job({}, applicants=60, table_rows=(400, 300))
    assert rule_of(spec, manifests, "secret_model_score", job, keyed_listings(caps, caps)) is None
    spec, manifests = keyed_score_job({}, applicants=61)
    assert rule_of(spec, manifests, "secret_model_score", job, keyed_listings(caps)) == "id-lookups-per-job"


def test_keyed_training_floors_its_rows_at_each_k() -> None:
    manifests = {
        "qq" * 32: dataset_manifest("q", 80, ("defaulted",)),
        "aa" * 32: dataset_manifest("a", 400),
    }
    inputs = [
        JobInput("applicants", "dataset", 3, "qq" * 32, "id"),
        JobInput("labels_0", "dataset", 3, "qq" * 32, "features"),
        JobInput("features_0", "dataset", 1, "aa" * 32, "features"),
        JobInput("ids_0", "dataset", 1, "aa" * 32, "id"),
    ]
    listed = {1: ListingFacts(1, SELLER_A, Policy(min_group_size=25), b"\x01" * 32),
              3: ListingFacts(3, BUYER, DEFAULT_POLICY, ZERO32)}
    job = facts("logreg_train", approved={1})
    low = spec_of("logreg_train", inputs, {"min_rows": 24})
    assert rule_of(low, manifests, "logreg_train", job, listed) == "min-group-size"
    floor = spec_of("logreg_train", inputs, {"min_rows": 25})
    assert rule_of(floor, manifests, "logreg_train", job, listed) is None
    assert required_floor({}, ALGORITHMS["logreg_train"], [listed[1].policy]) == {"min_rows": 25}
