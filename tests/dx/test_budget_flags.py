"""`dx dataset publish/budget` ε flags become the chain's micro-ε integers, and bad flags say why."""

from __future__ import annotations

import pytest

from contracts.types import PrivacyBudget
from dx.actions.budget import parse_budget
from dx.errors import InputError


def test_flags_become_exact_micro_eps() -> None:
    assert parse_budget(None, None) is None
    assert parse_budget(1.0, 0.4) == (1_000_000, 400_000)
    assert parse_budget(0.3, 0.1) == (300_000, 100_000)  # not 299_999: rounded, not truncated
    assert parse_budget(0, 0) == (0, 0)  # removes the budget (the chain refuses it once spent)


@pytest.mark.parametrize(
    ("total", "per_job", "message"),
    [
        (1.0, None, "both its total and its per-job"),
        (None, 0.4, "both its total and its per-job"),
        (1.0, 0.0, "must be > 0 and at most the total"),
        (1.0, 1.5, "must be > 0 and at most the total"),
        (1.0, 1e-9, "must be > 0"),
        (0.0, 0.4, "a zero total removes the budget"),
        (float("nan"), 0.4, "finite number"),
        (float("inf"), 0.4, "finite number"),
        (-1.0, 0.4, "finite number >= 0"),
        (2.0**64, 1.0, "does not fit"),
    ],
)
def test_bad_flags_name_what_is_wrong(total, per_job, message) -> None:
    with pytest.raises(InputError, match=message):
        parse_budget(total, per_job)


def test_the_budget_line_is_exact_decimal() -> None:
    budget = PrivacyBudget(1, 1_000_000, 400_000, 400_000)
    assert budget.describe() == "ε 1.0 total, 0.4 per job, 0.4 spent, 0.6 left"
    assert PrivacyBudget(1, 3_000_001, 100_000, 2_900_000).describe() == (
        "ε 3.000001 total, 0.1 per job, 2.9 spent, 0.100001 left"
    )
    assert PrivacyBudget(1, 0, 0, 0).describe() == "none"
