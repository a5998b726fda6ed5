"""End to end over three real node processes: share, run joint statistics, attest, reconstruct."""

from __future__ import annotations

import hashlib

import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dx_core.cid import cid_from_digest
from mpc_compute.algorithms import ALGORITHMS, psi_stats
from mpc_compute.attestation import attestation_from_dict, verify
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import id_to_field, share_dataset
from mpc_compute.clients.output import fetch_result
from mpc_compute.envelope import public_bytes
from mpc_compute.job_spec import JobInput, JobSpec, inputs_digest, program_hash_for
from mpc_compute.manifest import Column
from tests.fixtures.cluster import next_job_id, prepare_joint_stats_job

pytestmark = pytest.mark.mpc


def test_keys_and_health(node_cluster):
    for i, node in enumerate(node_cluster.nodes):
        keys = httpx.get(node.url + "/keys").json()
        assert keys["index"] == i
        assert keys["address"] == node_cluster.addresses[i]
        assert bytes.fromhex(keys["x25519_public"]) == node_cluster.node_keys[i]
        assert httpx.get(node.url + "/health").json()["status"] == "ok"
    assert httpx.get(node_cluster.nodes[0].url + "/jobs/999999").status_code == 404


def test_joint_stats_end_to_end(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path)
    assert all(r.status_code == 202 for r in node_cluster.trigger(job.job_id, job.claim))
    states = node_cluster.wait(job.job_id)
    assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
    stages = [e["stage"] for e in states[0]["timeline"]]
    assert stages.index("shares_verified") < stages.index("computed") < stages.index("attested")
    assert "destroyed" in stages and "destruction_attested" in stages

    attestations = [attestation_from_dict(s["attestation"]) for s in states]
    for i, att in enumerate(attestations):
        verify(att, node_cluster.addresses[i])
        assert att.program_hash == job.claim["program_hash"]
        assert att.inputs_digest == inputs_digest(job.spec.manifest_hashes()).hex()
        assert att.output_cid == cid_from_digest(bytes.fromhex(att.output_share_hash))
    assert len({a.output_share_hash for a in attestations}) == 3
    receipt = states[1]["destruction"]
    assert receipt["node_index"] == 1 and receipt["destroyed"]["buffers_overwritten"] > 0

    result = fetch_result(
        job.job_id,
        attestations,
        job.receiver,
        open_blob_source(str(node_cluster.blob_dir)),
        expected_addresses=node_cluster.addresses,
        expected_program_hash=bytes.fromhex(job.claim["program_hash"]),
    )
    exp = job.expected
    assert float(result["released"]) == 1.0
    assert float(result["count"]) == pytest.approx(exp["count"], abs=1e-3)
    np.testing.assert_allclose(result["sum"], exp["sum"], rtol=1e-4)
    np.testing.assert_allclose(result["mean"], exp["mean"], rtol=1e-3)
    np.testing.assert_allclose(result["variance"], exp["variance"], rtol=1e-2)
    np.testing.assert_allclose(result["histogram"], exp["histogram"], atol=1e-3)

    # a second trigger of a finished job is refused, the result stays
    assert node_cluster.trigger(job.job_id, job.claim, nodes=[0])[0].status_code == 409
    store = open_blob_source(str(node_cluster.blob_dir))
    bundle = store.get(attestations[0].output_cid)
    assert hashlib.sha256(bundle).hexdigest() == attestations[0].output_share_hash


def test_private_intersection_end_to_end(node_cluster, tmp_path):
    """psi_stats over two providers' text ids: the nodes never see an id, the buyer gets the overlap."""
    store = open_blob_source(str(node_cluster.blob_dir))
    rng = np.random.default_rng(11)
    left = [f"id-{k}" for k in range(0, 60)]
    right = [f"id-{k}" for k in range(45, 85)]
    files = {}
    for name, ids in (("bank", left), ("telco", right)):
        path = tmp_path / f"{name}.csv"
        balances = rng.normal(100, 20, len(ids)).round(3)
        path.write_text("cust,balance\n" + "".join(f"{i},{b}\n" for i, b in zip(ids, balances, strict=True)))
        files[name] = (path, balances)
    schema = [Column("cust", "text", "id"), Column("balance", "float64")]
    la, lb = (share_dataset(files[n][0], schema, node_cluster.node_keys, store, chunk_rows=25) for n in files)
    receiver = X25519PrivateKey.generate()
    ha, hb = la.manifest_hash.hex(), lb.manifest_hash.hex()
    spec = JobSpec(
        "psi_stats",
        ALGORITHMS["psi_stats"].version,
        (
            JobInput("left_ids", "dataset", 0, ha, "id"),
            JobInput("right_ids", "dataset", 0, hb, "id"),
            JobInput("left_values", "dataset", 0, ha, "features"),
        ),
        ("released", "intersection_size", "left_sums"),
        "0x" + "00" * 20,
        public_bytes(receiver).hex(),
        {},
    )
    manifests = {ha: la.manifest, hb: lb.manifest}
    program_hash = program_hash_for(spec, manifests)
    store.put(spec.to_bytes())
    job_id = next_job_id()
    node_cluster.trigger(job_id, {"params_hash": spec.digest().hex(), "program_hash": program_hash.hex()})
    states = node_cluster.wait(job_id)
    assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
    result = fetch_result(job_id, [attestation_from_dict(s["attestation"]) for s in states], receiver, store)
    expected = psi_stats.plaintext(
        {
            "left_ids": np.array([id_to_field(i) for i in left]),
            "right_ids": np.array([id_to_field(i) for i in right]),
            "left_values": files["bank"][1][:, None],
        },
        {},
    )
    assert float(np.asarray(result["intersection_size"]).reshape(())) == pytest.approx(15, abs=1e-3)
    assert expected["intersection_size"] == 15
    np.testing.assert_allclose(result["left_sums"], expected["left_sums"], rtol=1e-3)
