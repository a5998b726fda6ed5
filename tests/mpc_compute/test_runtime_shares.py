"""Serialized SPU shares: round trips, row-block joining, replicated-consistency checks, hashes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import spu
from spu import libspu

from mpc_compute import spu_runtime as R
from mpc_compute.algorithms import compile_program

pytestmark = pytest.mark.mpc


def tamper(share: bytes, slot: int, element: int = 0) -> bytes:
    """Flip one bit of one replicated component (slot 0 = c_i, slot 1 = c_{i+1}) of one element."""
    parsed = R.parse_share(share)
    comps = R._components(parsed).copy()
    comps[element, slot, 0] ^= 1
    chunk = libspu.ValueChunk()
    chunk.total_bytes, chunk.chunk_offset, chunk.content = comps.nbytes, 0, comps.tobytes()
    return R.serialize_share(R.ParsedShare(parsed.meta, (chunk.SerializeToString(),)))


def test_round_trip_floats_and_64_bit_ints():
    x = np.random.default_rng(0).normal(size=(37, 5)).astype(np.float32)
    np.testing.assert_allclose(R.reconstruct(R.make_shares(x)), x, atol=2**-17)
    ids = np.array([0, 1, 2**62 + 12345, 2**63 - 1, 987654321987], dtype=np.int64)
    np.testing.assert_array_equal(R.reconstruct(R.make_shares(ids)), ids)


def test_shares_look_random_and_differ_per_party():
    x = np.zeros(64, dtype=np.float32)
    shares = R.make_shares(x)
    assert len({R.share_digest(s) for s in shares}) == 3
    assert all(len(R.share_digest(s)) == 32 for s in shares)
    assert len(set(R._components(R.parse_share(shares[0]))[:, 0, :].tobytes()[i::8] for i in range(8))) > 1


def test_consistency_check_names_the_lying_rank():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    shares = R.make_shares(x)
    assert R.check_replicated_consistency(shares) == []
    for rank in range(3):
        both = list(shares)
        both[rank] = tamper(tamper(shares[rank], 0), 1)
        assert R.check_replicated_consistency(both) == [rank]
        # the two honest shares still open the value
        np.testing.assert_allclose(R.reconstruct_without(both, rank), x, atol=2**-17)
        assert not np.allclose(R.reconstruct(both), x)
        # one changed component: the pair sharing it disagrees, the liar is one of those two
        one = list(shares)
        one[rank] = tamper(shares[rank], 1)
        assert R.check_replicated_consistency(one) == sorted([rank, (rank + 1) % 3])


def test_consistency_check_catches_mismatched_metadata_and_swapped_shares():
    a, b = R.make_shares(np.ones((2, 2), np.float32)), R.make_shares(np.ones((2, 2), np.float32))
    assert R.check_replicated_consistency([a[0], a[1], b[2]]) != []
    assert R.check_replicated_consistency([a[1], a[0], a[2]]) == [0, 1, 2]


def test_row_blocks_join_into_one_valid_share():
    x = np.random.default_rng(1).normal(size=(1003, 6)).astype(np.float32)
    blocks = list(R.iter_row_block_shares(R.row_blocks(x, 250)))
    assert len(blocks) == 5
    joined = [R.join_row_blocks(b[rank] for b in blocks) for rank in range(3)]
    assert R.parse_share(joined[0]).shape() == (1003, 6)
    assert R.check_replicated_consistency(joined) == []
    np.testing.assert_allclose(R.reconstruct(joined), x, atol=2**-17)
    other = R.make_shares(np.zeros((4, 5), np.float32))
    with pytest.raises(R.ShareMismatchError, match="does not match the first block"):
        R.join_row_blocks([blocks[0][0], other[0]])


def test_malformed_share_bytes_are_refused():
    share = R.make_shares(np.ones(3, np.float32))[0]
    with pytest.raises(R.ShareFormatError, match="bad magic"):
        R.parse_share(b"XXXXXXXX" + share[8:])
    with pytest.raises(R.ShareFormatError, match="truncated"):
        R.parse_share(share[:-5])
    with pytest.raises(R.ShareFormatError, match="trailing"):
        R.parse_share(share + b"\0")


def test_config_hash_is_deterministic_and_covers_the_settings():
    assert R.config_hash() == R.config_hash(R.runtime_config())
    assert len(R.config_hash()) == 32
    assert R.config_hash(R.runtime_config(fxp_bits=20)) != R.config_hash()
    assert R.config_hash(R.runtime_config(field="FM128")) != R.config_hash()
    with pytest.raises(ValueError, match="unknown SPU field"):
        R.runtime_config(field="FM7")


def test_program_hash_is_reproducible_and_shape_sensitive():
    spec = [("data_0", (100, 4), "float32"), ("data_1", (50, 4), "float32")]
    params = {"hist_edges": {"2": [0, 1, 2]}, "min_cohort": 5}
    first = compile_program("joint_stats", spec, params)
    again = compile_program("joint_stats", list(spec), dict(params))
    assert first.program_hash == again.program_hash and first.executable == again.executable
    assert len(first.program_hash) == 32
    first.verify()
    assert (
        compile_program("joint_stats", [spec[0], ("data_1", (51, 4), "float32")], params).program_hash
        != first.program_hash
    )
    changed = {**params, "hist_edges": {"2": [0, 1, 3]}}
    assert compile_program("joint_stats", spec, changed).program_hash != first.program_hash


def test_public_values_are_checked_byte_for_byte():
    io = spu.Io(3, R.runtime_config())
    public = [
        R.serialize_share(s)
        for s in io.make_shares(np.arange(4, dtype=np.float32), libspu.Visibility.VIS_PUBLIC)
    ]
    assert R.check_replicated_consistency(public) == []
    np.testing.assert_array_equal(R.reconstruct(public), np.arange(4))
    forged = list(public)
    forged[2] = public[2][:-1] + bytes([public[2][-1] ^ 1])
    assert R.check_replicated_consistency(forged) == [2]
    # a rank that sends a secret share where the others agree on a public value is the odd one out
    secret = R.make_shares(np.arange(4, dtype=np.float32))
    assert R.check_replicated_consistency([public[0], secret[1], public[2]]) == [1]


def test_program_hash_is_the_same_in_a_fresh_process():
    """A buyer's client recomputes the on-chain program hash in its own process: it must match."""
    code = (
        "from mpc_compute.algorithms import compile_program\n"
        "p = compile_program('psi_stats', [('left_ids', (30,), 'int64'), ('right_ids', (40,), 'int64')],"
        " {'min_intersection': 3})\n"
        "print(p.program_hash.hex())\n"
    )
    here = compile_program(
        "psi_stats", [("left_ids", (30,), "int64"), ("right_ids", (40,), "int64")], {"min_intersection": 3}
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == here.program_hash.hex()
