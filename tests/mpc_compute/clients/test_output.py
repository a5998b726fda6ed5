"""Output client without a cluster: shares made locally, sealed per node, attested (signed or as the chain
records it); each check exercised."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from contracts.types import Attestation as ChainAttestation
from dx_core import keystore
from dx_core.cid import cid_from_digest
from mpc_compute import spu_runtime
from mpc_compute.attestation import sign_attestation
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import ResultError, fetch_result
from mpc_compute.envelope import pack_outputs, public_bytes, result_context, seal, unpack_outputs

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
    misbound = attest(store, receiver, nodes, per_node, 2, context_node=0)  # sealed as if by node 0
    with pytest.raises(ResultError, match="envelope check 'node'"):
        fetch_result(JOB, [atts[0], atts[1], misbound], receiver, store)
    with pytest.raises(ResultError, match=r"need attestations of nodes 0\.\.2"):
        fetch_result(JOB, atts[:2], receiver, store)


def on_chain(signed):
    """The record ComputeJobs keeps of a node's attestation (its JobAttested event)."""
    return ChainAttestation(
        signed.job_id,
        signed.node_address,
        signed.node_index,
        bytes.fromhex(signed.inputs_digest),
        bytes.fromhex(signed.program_hash),
        bytes.fromhex(signed.output_share_hash),
        b"\0" * 32,  # policy digest: not what the output client checks
        block_number=7,
        tx_hash="0x" + "ab" * 32,
    )


def test_reconstructs_from_on_chain_attestations(world):
    store, receiver, nodes, values, per_node = world
    chain = [on_chain(attest(store, receiver, nodes, per_node, i)) for i in range(3)]
    result = fetch_result(
        JOB,
        chain,
        receiver,
        store,
        expected_addresses=[n.address for n in nodes],
        expected_program_hash=bytes.fromhex("bb" * 32),
    )
    np.testing.assert_allclose(result["mean"], values["mean"], atol=1e-4)


def test_on_chain_attestation_checks(world):
    store, receiver, nodes, _, per_node = world
    chain = [on_chain(attest(store, receiver, nodes, per_node, i)) for i in range(3)]
    with pytest.raises(ResultError, match="cluster registers") as err:
        fetch_result(
            JOB, chain, receiver, store, expected_addresses=[nodes[0].address] * 2 + [nodes[2].address]
        )
    assert err.value.nodes == [1]
    with pytest.raises(ResultError, match="the job names another"):
        fetch_result(JOB, chain, receiver, store, expected_program_hash=b"\xcc" * 32)
    with pytest.raises(ResultError, match="for job 41"):
        fetch_result(JOB, [chain[0], dataclasses.replace(chain[1], job_id=41), chain[2]], receiver, store)
    # the chain's hash names no stored share, or another node's share
    unknown = dataclasses.replace(chain[1], output_share_hash=b"\0" * 32)
    with pytest.raises(ResultError, match="could not be fetched") as err:
        fetch_result(JOB, [chain[0], unknown, chain[2]], receiver, store)
    assert err.value.nodes == [1]
    swapped = dataclasses.replace(chain[1], output_share_hash=chain[0].output_share_hash)
    with pytest.raises(ResultError, match="envelope check 'node'") as err:
        fetch_result(JOB, [chain[0], swapped, chain[2]], receiver, store)
    assert err.value.nodes == [1]
    odd = dataclasses.replace(chain[2], inputs_digest=b"\xdd" * 32)
    with pytest.raises(ResultError, match="disagree on inputs_digest") as err:
        fetch_result(JOB, [chain[0], chain[1], odd], receiver, store)
    assert err.value.nodes == [2]


class LyingStore:
    """A blob source that hands back other bytes than the ones asked for (no CID check of its own)."""

    def __init__(self, store, swap: dict[str, bytes]) -> None:
        self.store, self.swap = store, swap

    def get(self, cid: str) -> bytes:
        return self.swap.get(cid) or self.store.get(cid)


def test_fetched_share_must_hash_to_the_attested_value(world):
    store, receiver, nodes, _, per_node = world
    chain = [on_chain(attest(store, receiver, nodes, per_node, i)) for i in range(3)]
    cid = cid_from_digest(chain[2].output_share_hash)
    liar = LyingStore(store, {cid: store.get(cid_from_digest(chain[0].output_share_hash))})
    with pytest.raises(ResultError, match="does not hash to the attested value") as err:
        fetch_result(JOB, chain, receiver, liar)
    assert err.value.nodes == [2]


def test_pack_round_trip_and_tamper():
    packed = pack_outputs({"a": b"xyz", "b": b"12345"})
    assert unpack_outputs(packed) == {"a": b"xyz", "b": b"12345"}
    with pytest.raises(ValueError, match="altered"):
        unpack_outputs(packed[:-1] + b"6")
