"""Output client without a cluster: shares made locally, sealed per node, attested; each check exercised."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dx_core import keystore
from mpc_compute import spu_runtime
from mpc_compute.envelope import public_bytes, result_context, seal
from mpc_compute.node.attest import sign_attestation
from mpc_compute.node.blob_source import open_blob_source
from mpc_compute.output_client import ResultError, fetch_result, pack_outputs, unpack_outputs

pytestmark = pytest.mark.mpc
JOB = 42


@pytest.fixture
def world(tmp_path):
    store = open_blob_source(str(tmp_path / "blobs"))
    receiver = X25519PrivateKey.generate()
    nodes = [keystore.create() for _ in range(3)]
    values = {"mean": np.array([1.5, -2.25, 1000.0]), "count": np.array(17.0)}
    per_node = [dict() for _ in range(3)]
    for name, value in values.items():
        for i, share in enumerate(spu_runtime.make_shares(value)):
            per_node[i][name] = share
    return store, receiver, nodes, values, per_node


def attest(store, receiver, nodes, per_node, i, outputs=None, job=JOB, context_node=None):
    bundle = seal(
        pack_outputs(outputs or per_node[i]),
        public_bytes(receiver),
        result_context(job, i if context_node is None else context_node),
    )
    return sign_attestation(
        nodes[i].account,
        job_id=job,
        node_index=i,
        inputs_digest="aa" * 32,
        program_hash="bb" * 32,
        output_share_hash=hashlib.sha256(bundle).hexdigest(),
        output_cid=store.put(bundle),
    )


def test_reconstructs_honest_shares(world):
    store, receiver, nodes, values, per_node = world
    atts = [attest(store, receiver, nodes, per_node, i) for i in range(3)]
    result = fetch_result(JOB, atts, receiver, store, expected_addresses=[n.address for n in nodes])
    np.testing.assert_allclose(result["mean"], values["mean"], atol=1e-4)
    assert float(np.asarray(result["count"]).reshape(())) == pytest.approx(17.0, abs=1e-4)


@pytest.mark.parametrize("liar", [0, 1, 2])
def test_a_node_that_changes_its_share_is_named(world, liar):
    store, receiver, nodes, _, per_node = world
    share = bytearray(per_node[liar]["mean"])
    share[-1] ^= 0x10
    share[-9] ^= 0x10
    atts = [
        attest(
            store,
            receiver,
            nodes,
            per_node,
            i,
            outputs={**per_node[i], "mean": bytes(share)} if i == liar else None,
        )
        for i in range(3)
    ]
    with pytest.raises(ResultError) as err:
        fetch_result(JOB, atts, receiver, store)
    assert err.value.nodes == [liar] and f"node {liar}" in str(err.value)


def test_one_changed_word_implicates_both_holders(world):
    store, receiver, nodes, _, per_node = world
    share = bytearray(per_node[1]["mean"])
    share[-1] ^= 0x10  # the second word of node 1 is also held by node 2
    atts = [
        attest(
            store,
            receiver,
            nodes,
            per_node,
            i,
            outputs={**per_node[i], "mean": bytes(share)} if i == 1 else None,
        )
        for i in range(3)
    ]
    with pytest.raises(ResultError) as err:
        fetch_result(JOB, atts, receiver, store)
    assert err.value.nodes == [1, 2]


def test_attestation_checks(world):
    store, receiver, nodes, _, per_node = world
    atts = [attest(store, receiver, nodes, per_node, i) for i in range(3)]
    forged = dataclasses.replace(atts[1], program_hash="cc" * 32)  # not re-signed
    with pytest.raises(ResultError, match="node") as err:
        fetch_result(JOB, [atts[0], forged, atts[2]], receiver, store)
    assert err.value.nodes == [1]
    with pytest.raises(ResultError, match="cluster registers"):
        fetch_result(
            JOB,
            atts,
            receiver,
            store,
            expected_addresses=[nodes[0].address, nodes[0].address, nodes[2].address],
        )
    with pytest.raises(ResultError, match="on-chain"):
        fetch_result(
            JOB,
            atts,
            receiver,
            store,
            chain_output_hashes={
                0: bytes.fromhex(atts[0].output_share_hash),
                1: b"\0" * 32,
                2: bytes.fromhex(atts[2].output_share_hash),
            },
        )
    misbound = attest(store, receiver, nodes, per_node, 2, context_node=0)  # sealed as if by node 0
    with pytest.raises(ResultError, match="envelope check 'node'"):
        fetch_result(JOB, [atts[0], atts[1], misbound], receiver, store)
    with pytest.raises(ResultError, match=r"need attestations of nodes 0\.\.2"):
        fetch_result(JOB, atts[:2], receiver, store)


def test_pack_round_trip_and_tamper():
    packed = pack_outputs({"a": b"xyz", "b": b"12345"})
    assert unpack_outputs(packed) == {"a": b"xyz", "b": b"12345"}
    with pytest.raises(ValueError, match="altered"):
        unpack_outputs(packed[:-1] + b"6")
