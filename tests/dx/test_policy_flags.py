"""`dx dataset publish/policy` flags build the policy document the nodes enforce, and bad flags say why."""

from __future__ import annotations

import json

import pytest

from dx.actions.policies import build_policy
from dx.errors import InputError
from mpc_compute.policy import DEFAULT_POLICY, IdLookupCaps, Policy


def test_flags_override_the_file_and_nothing_else(tmp_path) -> None:
    assert build_policy() == DEFAULT_POLICY
    doc = tmp_path / "policy.json"
    doc.write_text(
        json.dumps(
            {"min_group_size": 30, "columns": {"tax": "aggregate_only"}, "allowed_buyers": ["0x" + "AB" * 20]}
        )
    )
    policy = build_policy(doc, columns=["revenue=not_usable"], lookups_per_job=5, pre_approve=True)
    assert policy == Policy(
        min_group_size=30,
        columns={"tax": "aggregate_only", "revenue": "not_usable"},
        allowed_buyers=("0x" + "ab" * 20,),
        id_lookups=IdLookupCaps(per_job=5),
        pre_approve=True,
    )
    assert build_policy(doc, min_group_size=12).min_group_size == 12
    assert build_policy(doc, difference_scope="buyer").difference_scope == "buyer"
    assert build_policy(doc, reveal_absence=True).reveal_absence is True
    assert build_policy(doc).reveal_absence is False  # hidden unless the owner says otherwise


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": ["revenue"]}, "is not NAME=RULE"),
        ({"columns": ["revenue=secret"]}, "is not NAME=RULE"),
        ({"min_group_size": 0}, "min_group_size"),
        ({"difference_scope": "everyone"}, "difference_scope must be one of"),
    ],
)
def test_bad_flags_name_what_is_wrong(kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        build_policy(**kwargs)


def test_a_malformed_policy_file_is_refused(tmp_path) -> None:
    doc = tmp_path / "policy.json"
    doc.write_text(json.dumps({"columns": {"tax": "secret"}}))
    with pytest.raises(InputError, match="rule 'secret'"):
        build_policy(doc)
