"""ID-matching programs (psi_stats, multi_lender, blacklist_match) on three real SPU processes.

Counts and membership bits must be exact; sums carry fixed-point error (FM64, 18 fraction bits):
1e-4 relative plus 1e-2 absolute.
"""

from __future__ import annotations

import numpy as np
import pytest

from mpc_compute.algorithms import (
    InvalidInputs,
    blacklist_match,
    compile_program,
    id_to_field,
    ids_to_field,
    multi_lender,
    psi_stats,
)
from mpc_compute.algorithms.oblivious import ID_BITS
from mpc_compute.clients import input as clients_input

pytestmark = pytest.mark.mpc

RTOL, ATOL = 1e-4, 1e-2


def compile_for(name, inputs, params=None):
    return compile_program(name, [(k, v.shape, v.dtype) for k, v in inputs.items()], params or {})


@pytest.fixture(scope="module")
def pool():
    rng = np.random.default_rng(11)
    return rng, np.unique(rng.integers(0, 2**ID_BITS, size=6000, dtype=np.int64))


def test_id_hash_is_63_bit_and_the_input_clients():
    for text in ("110101199003077777", "alice", "  spaced ", "身份证"):
        assert id_to_field(text) == clients_input.id_to_field(text)
    assert id_to_field("a") != id_to_field("b")
    ids = ids_to_field(f"customer-{i}" for i in range(20000))
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 2**ID_BITS
    assert len(np.unique(ids)) == 20000


def test_psi_stats_matches_numpy(run_job, pool):
    rng, ids = pool
    left = rng.choice(ids, 700, replace=False)
    right = rng.choice(ids, 1200, replace=False)
    inputs = {
        "left_ids": left,
        "right_ids": right,
        "left_values": rng.normal(100, 20, size=(700, 2)).astype(np.float32),
        "right_values": rng.uniform(0, 50, size=(1200, 1)).astype(np.float32),
    }
    params = {"min_intersection": 10}
    got = run_job(compile_for("psi_stats", inputs, params), inputs)
    want = psi_stats.plaintext(inputs, params)
    assert want["intersection_size"] > 10
    assert got["released"] == 1 and round(float(got["intersection_size"])) == want["intersection_size"]
    np.testing.assert_allclose(got["left_sums"], want["left_sums"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(got["right_sums"], want["right_sums"], rtol=RTOL, atol=ATOL)


def test_psi_empty_intersection_and_refusal(run_job, pool):
    _, ids = pool
    left, right = ids[:300], ids[300:800]
    got = run_job(
        compile_for("psi_stats", {"left_ids": left, "right_ids": right}),
        {"left_ids": left, "right_ids": right},
    )
    assert got["intersection_size"] == 0 and got["released"] == 1
    # an intersection of 5 under a minimum of 6: zeros and released = 0
    inputs = {"left_ids": ids[:50], "right_ids": ids[45:400], "right_values": np.ones((355, 1), np.float32)}
    got = run_job(compile_for("psi_stats", inputs, {"min_intersection": 6}), inputs)
    assert psi_stats.plaintext(inputs, {})["intersection_size"] == 5
    assert got["released"] == 0 and got["intersection_size"] == 0 and got["right_sums"][0] == 0


def test_psi_single_id_each_side(run_job, pool):
    _, ids = pool
    inputs = {"left_ids": ids[:1], "right_ids": ids[:1]}
    got = run_job(compile_for("psi_stats", inputs), inputs)
    assert got["intersection_size"] == 1


def test_multi_lender_per_applicant_totals(run_job, pool):
    rng, ids = pool
    applicants = rng.choice(ids, 150, replace=False)
    inputs = {"applicants": applicants}
    for k in range(3):
        ours = rng.choice(applicants, 60, replace=False)
        book = np.unique(np.concatenate([ours, rng.choice(ids, 400, replace=False)]))
        inputs[f"loan_ids_{k}"] = rng.permutation(book)
        inputs[f"loan_amounts_{k}"] = rng.uniform(1000, 90000, size=len(book)).astype(np.float32)
    got = run_job(compile_for("multi_lender", inputs), inputs)
    want = multi_lender.plaintext(inputs, {})
    assert set(np.unique(want["lenders"])) >= {0.0, 1.0, 2.0}
    np.testing.assert_array_equal(np.round(got["lenders"]), want["lenders"])
    np.testing.assert_allclose(got["total_loans"], want["total_loans"], rtol=RTOL, atol=ATOL)


def test_blacklist_membership_bits(run_job, pool):
    rng, ids = pool
    listed = rng.choice(ids, 2000, replace=False)
    queries = np.concatenate(
        [rng.choice(listed, 30, replace=False), rng.choice(np.setdiff1d(ids, listed), 70, replace=False)]
    )
    queries = rng.permutation(queries)
    inputs = {"queries": queries, "blacklist": listed}
    got = run_job(compile_for("blacklist_match", inputs), inputs)
    np.testing.assert_array_equal(got["member"], blacklist_match.plaintext(inputs, {})["member"])
    assert got["member"].sum() == 30


def test_id_programs_refuse_bad_shapes():
    with pytest.raises(InvalidInputs, match="int64"):
        compile_program("blacklist_match", [("queries", (10,), "float32"), ("blacklist", (5,), "int64")], {})
    with pytest.raises(InvalidInputs, match="loan_ids_k and loan_amounts_k"):
        specs = [
            ("applicants", (10,), "int64"),
            ("loan_ids_0", (5,), "int64"),
            ("loan_amounts_0", (5,), "float32"),
            ("loan_ids_1", (5,), "int64"),
        ]
        compile_program("multi_lender", specs, {})
    with pytest.raises(InvalidInputs, match="no input for role 'loan_amounts'"):
        compile_program("multi_lender", [("applicants", (10,), "int64"), ("loan_ids_0", (5,), "int64")], {})
