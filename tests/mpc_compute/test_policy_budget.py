"""The privacy-budget rule of the nodes' policy check: a job that reserved ε must release with that ε."""

from __future__ import annotations

import dataclasses

import pytest

from mpc_compute.algorithms import ALGORITHMS
from mpc_compute.job_spec import JobInput
from mpc_compute.policy import PRIVACY_BUDGET_RULE, PolicyViolation, check_job, supports_dp
from tests.mpc_compute.test_policy import dataset_manifest, facts, joint_stats_job, listings, spec_of

PER_JOB = 400_000  # ε 0.4 in micro-ε, as Market.reservedEpsilon reports it


def with_params(spec, **params):
    return dataclasses.replace(spec, params={**spec.params, **params})


def refusal(spec, manifests, algorithm: str, reserved: dict[int, int]) -> PolicyViolation | None:
    job = dataclasses.replace(facts(algorithm), reserved_micro_eps=reserved)
    try:
        check_job(spec, manifests, ALGORITHMS[algorithm], job, listings())
    except PolicyViolation as exc:
        return exc
    return None


@pytest.mark.parametrize(
    "dp_epsilon",
    [None, 0, 0.0, -0.4, 0.3, 0.5, 0.4001, float("nan"), float("inf"), "0.4", True, [0.4]],
)
def test_a_budgeted_job_without_the_reserved_epsilon_is_refused(dp_epsilon) -> None:
    spec, manifests = joint_stats_job()
    if dp_epsilon is not None:
        spec = with_params(spec, dp_epsilon=dp_epsilon)
    exc = refusal(spec, manifests, "joint_stats", {1: PER_JOB})
    assert exc is not None and exc.rule == PRIVACY_BUDGET_RULE
    assert "dataset(s) 1" in str(exc)


def test_the_reserved_epsilon_passes_and_unbudgeted_jobs_are_untouched() -> None:
    spec, manifests = joint_stats_job()
    assert refusal(with_params(spec, dp_epsilon=0.4), manifests, "joint_stats", {1: PER_JOB, 2: 0}) is None
    # no reservation: today's behaviour, with or without noise the buyer asks for
    assert refusal(spec, manifests, "joint_stats", {}) is None
    assert refusal(spec, manifests, "joint_stats", {1: 0, 2: 0}) is None
    assert refusal(with_params(spec, dp_epsilon=2.0), manifests, "joint_stats", {}) is None


def test_several_budgets_release_with_the_smallest_reservation() -> None:
    spec, manifests = joint_stats_job()
    reserved = {1: PER_JOB, 2: 250_000}
    assert refusal(with_params(spec, dp_epsilon=0.25), manifests, "joint_stats", reserved) is None
    # noise at the larger ε would lose more of dataset 2 than its budget was charged
    exc = refusal(with_params(spec, dp_epsilon=0.4), manifests, "joint_stats", reserved)
    assert exc is not None and exc.rule == PRIVACY_BUDGET_RULE


def test_an_algorithm_without_dp_cannot_run_on_a_budgeted_dataset() -> None:
    assert not supports_dp(ALGORITHMS["psi_stats"]) and supports_dp(ALGORITHMS["joint_stats"])
    manifests = {"aa" * 32: dataset_manifest("a", 40, ()), "bb" * 32: dataset_manifest("b", 500, ())}
    inputs = [
        JobInput("left_ids", "dataset", 1, "aa" * 32, "id"),
        JobInput("right_ids", "dataset", 2, "bb" * 32, "id"),
    ]
    spec = spec_of("psi_stats", inputs, {"min_intersection": 10, "dp_epsilon": 0.4})
    assert refusal(spec, manifests, "psi_stats", {}) is None
    exc = refusal(spec, manifests, "psi_stats", {2: PER_JOB})
    assert exc is not None and exc.rule == PRIVACY_BUDGET_RULE
    assert "cannot release with differential privacy" in str(exc)


def test_a_budgeted_dataset_fed_in_twice_is_refused() -> None:
    """A + A: each person's row counted twice against noise calibrated to one row spends 2ε for ε charged."""
    spec, manifests = joint_stats_job()
    doubled = dataclasses.replace(
        spec,
        inputs=(spec.inputs[0], dataclasses.replace(spec.inputs[1], listing_id=1, manifest_hash="aa" * 32)),
        params={**spec.params, "dp_epsilon": 0.4},
    )
    exc = refusal(doubled, manifests, "joint_stats", {1: PER_JOB})
    assert exc is not None and exc.rule == PRIVACY_BUDGET_RULE and "more than one input" in str(exc)
    # the same pair without a budget is today's behaviour (k-anonymity rules only)
    assert refusal(doubled, manifests, "joint_stats", {}) is None
