"""A compute node's key rotation with a path forward, end to end on a real chain, API and three real node
processes: after `dx account rotate-key --force` the node's jobs fail on every listing; `dx node reseal`
re-seals its own shares to its new key and signs a request; the owner's `dx dataset reseal` checks it
against the chain and updates the listing; the next job runs on the rotated node. Forged, replayed and
stale requests are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account
from eth_account.messages import encode_defunct

from dx import context, identities
from dx_core import keystore
from dx_core.canonical import canonical_json
from dx_core.cid import cid_from_digest
from mpc_compute.blob_source import open_blob_source
from mpc_compute.envelope import open_bundle, public_bytes, share_context
from mpc_compute.manifest import Manifest
from tests.dx.test_membership_cli import PASSWORD, ROWS, DxWorld, dx, dx_json, dx_world, publish
from tests.fixtures.cluster import FAST_FAIL, Cluster, NodeProcess, lane_ports, next_job_id

# Not `database`: three SPU nodes make it slow, and nothing here depends on the database engine.
pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.mpc]
__all__ = ["dx_world"]
# The vendor's secret model: scores = 0.001 * revenue + 0.01 * tax_paid + 1 (linear link, fixed by it).
MODEL = {"weights": [0.001, 0.01], "bias": 1.0, "features": ["revenue", "tax_paid"], "name": "tax-score",
         "public_params": {"link": "linear"}}


def _node_identity(i: int) -> keystore.Identity:
    return keystore.load(identities.path_of(f"node{i}"), PASSWORD)


@pytest.fixture(scope="module")
def nodes(dx_world, tmp_path_factory) -> Iterator[Cluster]:
    """The three registered nodes as real processes, each on its keystore in the dx data dir (so a
    restart loads the rotated key), reading and writing blobs through the exchange API."""
    workdir = tmp_path_factory.mktemp("reseal-nodes")
    spu, meetings = lane_ports(["127.0.0.1"] * 3, lanes=2)
    operator = Account.create()
    procs = [NodeProcess(i, identities.path_of(f"node{i}"), spu, meetings, "127.0.0.1", context.api_url(),
                         workdir / f"node{i}.log",
                         ["--work-dir", str(workdir / f"node{i}"), *FAST_FAIL, "--dev-no-chain",
                          "--operator", operator.address])
             for i in range(3)]
    cluster = Cluster(procs, workdir, [_node_identity(i) for i in range(3)], operator, 0)
    try:
        for p in procs:
            p.start()
        yield cluster
    finally:
        cluster.stop()


def _manifest_at(digest: bytes) -> Manifest:
    return Manifest.from_bytes(context.client("buyer").get_blob(cid_from_digest(digest)), digest)


def _manifest(world: DxWorld, dataset_id: int) -> Manifest:
    return _manifest_at(bytes(world.w.ledger.market.dataset(dataset_id).manifest_hash))


def _model_manifest(world: DxWorld, algorithm_id: int) -> Manifest:
    return _manifest_at(bytes(world.w.ledger.market.algorithm(algorithm_id).secret_params_hash))


def run_job(cluster: Cluster, algorithm: str, inputs: list[tuple[str, str, int, Manifest, tuple | None]],
            params: dict) -> Outcome:
    """A job over the listings' current manifests (input name, kind, listing id, manifest, columns), as
    a buyer would build it; the nodes' final states, and the reconstructed result when all succeeded."""
    from mpc_compute import job_spec
    from mpc_compute.algorithms import ALGORITHMS, compile_program
    from mpc_compute.attestation import attestation_from_dict
    from mpc_compute.clients.output import fetch_result

    alg = ALGORITHMS[algorithm]
    receiver = X25519PrivateKey.generate()
    manifests = {m.digest().hex(): m for *_, m, _ in inputs}
    job_inputs = tuple(
        job_spec.JobInput(name, kind, listing_id, m.digest().hex(), _array(m), cols)
        for name, kind, listing_id, m, cols in inputs)

    def spec_with(outputs: tuple[str, ...]) -> job_spec.JobSpec:
        return job_spec.JobSpec(alg.name, alg.version, job_inputs, outputs, "0x" + "00" * 20,
                                public_bytes(receiver).hex(), params)

    shapes = job_spec.input_shapes(spec_with(()), manifests)
    spec = spec_with(tuple(compile_program(alg.name, shapes, params).output_names))
    program_hash = job_spec.program_hash_for(spec, manifests)
    context.client("buyer").put_blob(spec.to_bytes())
    job_id = next_job_id()
    claim = {"params_hash": spec.digest().hex(), "program_hash": program_hash.hex()}
    assert all(r.status_code == 202 for r in cluster.trigger(job_id, claim))
    states = cluster.wait(job_id)
    if [s["status"] for s in states] != ["succeeded"] * 3:
        return states, None
    attestations = [attestation_from_dict(s["attestation"]) for s in states]
    result = fetch_result(job_id, attestations, receiver, open_blob_source(context.api_url()),
                          expected_addresses=cluster.addresses, expected_program_hash=program_hash)
    return states, result


def _array(m: Manifest) -> str:
    return "features" if any(a.name == "features" for a in m.arrays) else m.arrays[0].name


Outcome = tuple[list[dict], dict | None]


def _jobs(cluster: Cluster, world: DxWorld, dataset_id: int, algorithm_id: int) -> list[Outcome]:
    """Joint statistics over the dataset, and the vendor's secret model scoring its two columns."""
    data = _manifest(world, dataset_id)
    stats = run_job(cluster, "joint_stats", [("data_0", "dataset", dataset_id, data, None)], {})
    scores = run_job(cluster, "secret_model_score",
                     [("model", "model", algorithm_id, _model_manifest(world, algorithm_id), None),
                      ("features_0", "dataset", dataset_id, data, ("revenue", "tax_paid"))],
                     {"link": "linear"})
    return [stats, scores]


def _check_results(jobs: list[Outcome]) -> None:
    (stats_states, stats), (score_states, scores) = jobs
    assert stats is not None, [s["error"] for s in stats_states]
    assert float(stats["count"]) == pytest.approx(ROWS, abs=1e-3)
    assert scores is not None, [s["error"] for s in score_states]
    revenue = np.array([1000 + 37 * i for i in range(ROWS)], dtype=float)
    tax = np.array([100 + 3 * i for i in range(ROWS)], dtype=float)
    np.testing.assert_allclose(scores["scores"], MODEL["weights"][0] * revenue + MODEL["weights"][1] * tax
                               + MODEL["bias"], atol=1e-2)


def test_a_rotated_node_reseals_its_shares_and_runs_jobs_again(dx_world, nodes, capsys, tmp_path) -> None:
    w, market = dx_world.w, dx_world.w.ledger.market
    code, out, err = publish(capsys, dx_world)
    assert code == 0, (out, err)
    dataset_id = json.loads(out)["dataset_id"]
    model_file = tmp_path / "model.json"
    model_file.write_text(json.dumps(MODEL))
    algorithm_id = dx_json(capsys, "algorithm", "publish", "secret_model_score", "--model", str(model_file),
                           "--as", "vendor")["algorithm_id"]
    _check_results(_jobs(nodes, dx_world, dataset_id, algorithm_id))
    before, terms = _manifest(dx_world, dataset_id), market.dataset(dataset_id)
    model_before = _model_manifest(dx_world, algorithm_id)

    # node 1 rotates (forced), restarts on its new key: its shares of both listings no longer open
    rotated = dx_json(capsys, "account", "rotate-key", "--force", "--as", "node1")
    assert any("dx node reseal" in step for step in rotated["required_next"])
    nodes.nodes[1].stop()
    nodes.nodes[1].start()
    nodes.identities[1] = _node_identity(1)
    assert nodes.identities[1].x25519_public.hex() == rotated["new_key"]
    for states, result in _jobs(nodes, dx_world, dataset_id, algorithm_id):
        assert result is None and states[1]["status"] in ("refused", "failed"), states[1]
        assert "sealed to key" in (states[1]["error"] or ""), states[1]

    # the node re-seals its own shares and signs one request per listing; nothing else changes yet
    outdir = tmp_path / "requests"
    done = dx_json(capsys, "node", "reseal", "--out", str(outdir), "--as", "node1")
    by = {(r["kind"], r["listing_id"]): r for r in done["requests"]}
    assert by[("dataset", dataset_id)]["owner"] == dx_world.address["seller"]
    assert by[("model", algorithm_id)]["owner"] == dx_world.address["vendor"]
    request = Path(by[("dataset", dataset_id)]["request"])
    model_request = Path(by[("model", algorithm_id)]["request"])
    assert _manifest(dx_world, dataset_id) == before
    doc = json.loads(request.read_text())
    assert doc["request"]["node"] == dx_world.address["node1"] and doc["request"]["nonce"]

    # forged: the node index changed after signing; signed by a member that is no cluster node
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**doc, "request": {**doc["request"], "node_index": 0}}))
    code, out, err = dx(capsys, "dataset", "reseal", str(forged), "--as", "seller")
    assert code != 0 and "signed by" in out + err, (out, err)
    stranger = keystore.load(identities.path_of("buyer"), PASSWORD).account
    body = {**doc["request"], "node": stranger.address}
    sig = stranger.sign_message(encode_defunct(primitive=canonical_json(body))).signature.to_0x_hex()
    forged.write_text(json.dumps({"request": body, "signature": sig}))
    code, out, err = dx(capsys, "dataset", "reseal", str(forged), "--as", "seller")
    assert code != 0 and "compute_node" in out + err and "NotActiveMember" in out + err, (out, err)
    # only the owner applies it, and a model's request only to its algorithm listing
    code, out, err = dx(capsys, "dataset", "reseal", str(request), "--as", "buyer")
    assert code != 0 and "NotListingOwner" in out + err
    code, out, err = dx(capsys, "dataset", "reseal", str(model_request), "--as", "vendor")
    assert code != 0 and "dx algorithm reseal" in out + err
    assert _manifest(dx_world, dataset_id) == before

    # the owners apply them: only node 1's entry changed, and the next jobs run on all three nodes
    applied = dx_json(capsys, "dataset", "reseal", str(request), "--as", "seller")
    dx_json(capsys, "algorithm", "reseal", str(model_request), "--as", "vendor")
    after, model_after = _manifest(dx_world, dataset_id), _model_manifest(dx_world, algorithm_id)
    assert applied["manifest_hash"] == "0x" + after.digest().hex() == "0x" + bytes(
        market.dataset(dataset_id).manifest_hash).hex()
    for old, new in ((before, after), (model_before, model_after)):
        assert new.node(0) == old.node(0) and new.node(2) == old.node(2)
        assert new.node(1).public_key == rotated["new_key"]
        assert (new.label, new.rows, new.columns, new.arrays, new.public_params) == (
            old.label, old.rows, old.columns, old.arrays, old.public_params)
        assert [c.share_sha256 for cs in new.node(1).arrays.values() for c in cs] == [
            c.share_sha256 for cs in old.node(1).arrays.values() for c in cs]
        new_cids = [c.cid for cs in new.node(1).arrays.values() for c in cs]
        assert not set(new_cids) & set(old.blob_cids())
    # The plaintext share went from one envelope to the other in memory: no file here holds it.
    new_cids = [c.cid for cs in after.node(1).arrays.values() for c in cs]
    share = open_bundle(context.client("buyer").get_blob(new_cids[0]), nodes.identities[1].x25519,
                        share_context(after.kind, after.label, 1))
    probe = share[len(share) // 2:len(share) // 2 + 48]
    for file in [*dx_world.data_dir.rglob("*"), *tmp_path.rglob("*")]:
        assert not (file.is_file() and probe in file.read_bytes()), file
    listing = market.dataset(dataset_id)
    assert (listing.price_per_use, listing.max_uses, listing.policy_hash) == (
        terms.price_per_use, terms.max_uses, terms.policy_hash)
    _check_results(_jobs(nodes, dx_world, dataset_id, algorithm_id))

    # replayed: the same request again is refused (applied once; the listing's manifest moved on)
    code, out, err = dx(capsys, "dataset", "reseal", str(request), "--as", "seller")
    assert code != 0 and "applied already" in out + err, (out, err)
    assert market.dataset(dataset_id).manifest_hash == listing.manifest_hash
    # and a second `dx node reseal` finds nothing left sealed to the old key
    again = dx_json(capsys, "node", "reseal", "--out", str(tmp_path / "again"), "--as", "node1")
    assert again["requests"] == [], again
    assert w.ledger.registry.member(dx_world.address["node1"]).encryption_key.hex() == rotated["new_key"]
