"""Faults on a real three-node cluster: tampered shares, absent, dead and garbage-sending peers, a liar."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
import time
from pathlib import Path

import pytest

from dx_core.blobstore import LocalBlobStore
from mpc_compute.attestation import attestation_from_dict, sign_attestation
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.input import share_dataset
from mpc_compute.clients.output import ResultError, fetch_result
from mpc_compute.envelope import open_bundle, pack_outputs, result_context, seal, unpack_outputs
from mpc_compute.job_spec import program_hash_for
from mpc_compute.manifest import Column, Manifest
from tests.fixtures.cluster import Cluster, next_job_id, prepare_joint_stats_job

pytestmark = pytest.mark.mpc

# FAST_FAIL nodes give up on a peer after 12 connect retries (about 20 s) or 8 s without a message; the bound
# below adds worker start-up and polling, and is a generous ceiling, not a benchmark.
FAILURE_BOUND_S = 90


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def worker_children(cluster: Cluster, i: int) -> list[int]:
    """Live job workers of node i: the children of its worker forkserver (the server itself, and
    multiprocessing's resource tracker, are not workers)."""
    workers = []
    for child in _children(cluster.nodes[i].proc.pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"forkserver" in cmdline:
            workers += _children(child)
    return workers


def stages(state: dict, attempt: int | None = None) -> list[str]:
    return [e["stage"] for e in state["timeline"] if attempt is None or e["attempt"] == attempt]


def test_tampered_bundle_is_refused_before_compute(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path, rows=(60, 40))
    manifest = job.listings[0].manifest
    cid = manifest.node(1).arrays["features"][1].cid
    path = LocalBlobStore(node_cluster.blob_dir)._path(cid)
    original = path.read_bytes()
    altered = bytearray(original)
    altered[len(altered) // 2] ^= 0x01
    path.write_bytes(bytes(altered))
    try:
        node_cluster.trigger(job.job_id, job.claim)
        states = node_cluster.wait(job.job_id, timeout=FAILURE_BOUND_S)
    finally:
        path.write_bytes(original)
    assert states[1]["status"] == "refused"
    assert "chunk 1" in states[1]["error"] and "altered" in states[1]["error"]
    for s in states:
        assert "computed" not in stages(s), "no node may finish compute with a tampered input"
    assert [s["status"] for s in (states[0], states[2])] == ["failed", "failed"]
    # the blob is restored: the same job can be retried and now succeeds
    node_cluster.trigger(job.job_id, job.claim)
    assert [s["status"] for s in node_cluster.wait(job.job_id)] == ["succeeded"] * 3


def _forged_manifest_job(cluster: Cluster, tmp_path: Path, mutate) -> tuple[int, dict]:
    """A job whose input manifest was altered by `mutate` before being committed (a cheating provider)."""
    store = open_blob_source(str(cluster.blob_dir))
    job = prepare_joint_stats_job(cluster, tmp_path, rows=(30, 30))
    forged: Manifest = mutate(job.listings[0].manifest, job)
    store.put(forged.to_bytes())
    first = dataclasses.replace(job.spec.inputs[0], manifest_hash=forged.digest().hex())
    spec = dataclasses.replace(job.spec, inputs=(first, job.spec.inputs[1]))
    store.put(spec.to_bytes())
    manifests = {**job.manifests, forged.digest().hex(): forged}
    claim = {"params_hash": spec.digest().hex(), "program_hash": program_hash_for(spec, manifests).hex()}
    return next_job_id(), claim


def test_wrong_node_bundle_is_refused(node_cluster, tmp_path):
    def swap(m: Manifest, job) -> Manifest:  # node 1 is pointed at node 0's bundles
        nodes = list(m.nodes)
        nodes[1] = dataclasses.replace(nodes[1], arrays=nodes[0].arrays)
        return dataclasses.replace(m, nodes=tuple(nodes))

    job_id, claim = _forged_manifest_job(node_cluster, tmp_path, swap)
    node_cluster.trigger(job_id, claim)
    states = node_cluster.wait(job_id, timeout=FAILURE_BOUND_S)
    assert states[1]["status"] == "refused"
    assert "envelope check 'node' failed" in states[1]["error"]
    assert all("computed" not in stages(s) for s in states)


def test_wrong_listing_bundle_is_refused(node_cluster, tmp_path):
    def graft(m: Manifest, job) -> Manifest:  # node 2's first chunk comes from another listing
        other = share_dataset(
            tmp_path / "provider_a.csv",
            [
                Column("customer", "text", "id"),
                Column("age", "float64"),
                Column("balance", "float64"),
                Column("noise", "float64"),
            ],
            node_cluster.node_keys,
            open_blob_source(str(node_cluster.blob_dir)),
            chunk_rows=50,
        ).manifest
        nodes = list(m.nodes)
        nodes[2] = dataclasses.replace(nodes[2], arrays=other.node(2).arrays)
        return dataclasses.replace(m, nodes=tuple(nodes))

    job_id, claim = _forged_manifest_job(node_cluster, tmp_path, graft)
    node_cluster.trigger(job_id, claim)
    states = node_cluster.wait(job_id, timeout=FAILURE_BOUND_S)
    assert states[2]["status"] == "refused"
    assert "envelope check 'listing' failed" in states[2]["error"]
    assert all("computed" not in stages(s) for s in states)


def test_program_hash_mismatch_is_refused(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path, rows=(20, 20))
    claim = {**job.claim, "program_hash": "11" * 32}
    node_cluster.trigger(job.job_id, claim)
    states = node_cluster.wait(job.job_id, timeout=FAILURE_BOUND_S)
    for s in states:
        assert s["status"] == "refused" and "recompiled program hash" in s["error"]
        assert "shares_verified" not in stages(s)


def test_peer_that_never_connects_then_retry(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path, rows=(40, 40))
    started = time.monotonic()
    node_cluster.trigger(job.job_id, job.claim, nodes=[0, 1])
    states = node_cluster.wait(job.job_id, nodes=[0, 1], timeout=FAILURE_BOUND_S)
    elapsed = time.monotonic() - started
    for s in states:
        assert s["status"] == "failed"
        assert "PeerUnavailableError" in s["error"] or "peer" in s["error"].lower()
    assert elapsed < FAILURE_BOUND_S
    assert worker_children(node_cluster, 0) == [] and worker_children(node_cluster, 1) == []
    node_cluster.trigger(job.job_id, job.claim)
    final = node_cluster.wait(job.job_id)
    assert [s["status"] for s in final] == ["succeeded"] * 3
    assert final[0]["attempt"] == 2 and final[2]["attempt"] == 1


def test_node_killed_mid_job_then_retry(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path, rows=(25_000, 25_000), chunk_rows=10_000)
    node_cluster.trigger(job.job_id, job.claim)
    deadline = time.monotonic() + 120
    while not all("shares_verified" in stages(node_cluster.status(i, job.job_id)) for i in (0, 2)):
        assert time.monotonic() < deadline, "nodes 0 and 2 never started computing"
        time.sleep(0.05)
    # the job cannot end while node 2 computes: node 0's worker is alive, and the helper must see it
    assert worker_children(node_cluster, 0), "node 0's worker is not where the helper looks for it"
    node_cluster.nodes[2].kill()
    killed_at = time.monotonic()
    try:
        states = node_cluster.wait(job.job_id, nodes=[0, 1], timeout=FAILURE_BOUND_S)
        assert time.monotonic() - killed_at < FAILURE_BOUND_S
        for s in states:
            assert s["status"] == "failed", s
            assert "party" in s["error"].lower()
            assert "computed" not in stages(s)
            assert s["destruction"] is not None  # the worker still wiped what it held
            if "worker process died" in s["error"]:  # SPU can crash when a peer vanishes mid-run
                assert "after stage 'shares_verified'" in s["error"], s["error"]
                assert "died" in s["destruction"]["destroyed"]["decrypted_input_shares"]
        assert worker_children(node_cluster, 0) == [] and worker_children(node_cluster, 1) == []
    finally:
        node_cluster.nodes[2].start()
    restarted = node_cluster.status(2, job.job_id)  # its job table survived the crash
    assert restarted["status"] == "failed" and "restarted" in restarted["error"]
    node_cluster.trigger(job.job_id, job.claim)
    final = node_cluster.wait(job.job_id)
    assert [s["status"] for s in final] == ["succeeded"] * 3, [s["error"] for s in final]


def test_peer_sending_garbage(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path, rows=(30, 30))
    node2 = node_cluster.nodes[2]
    node2.stop()
    lane = job.job_id % len(node2.spu_lanes)  # the job's lane: where nodes 0 and 1 will look for node 2
    host, port = node2.spu_lanes[lane][2].rsplit(":", 1)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, int(port)))
    server.listen()
    server.settimeout(0.5)
    stop = threading.Event()

    def spew() -> None:  # accepts every connection and answers with junk
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(b"\x00\xffGARBAGE" * 512)
                except OSError:
                    pass

    thread = threading.Thread(target=spew, daemon=True)
    thread.start()
    try:
        node_cluster.trigger(job.job_id, job.claim, nodes=[0, 1])
        states = node_cluster.wait(job.job_id, nodes=[0, 1], timeout=FAILURE_BOUND_S)
        for s in states:
            assert s["status"] == "failed" and s["error"]
            assert "computed" not in stages(s)
    finally:
        stop.set()
        thread.join(5)
        server.close()
        node2.start()


def test_lying_node_is_named_by_the_output_client(node_cluster, tmp_path):
    job = prepare_joint_stats_job(node_cluster, tmp_path, rows=(25, 25))
    node_cluster.trigger(job.job_id, job.claim)
    states = node_cluster.wait(job.job_id)
    assert [s["status"] for s in states] == ["succeeded"] * 3
    store = open_blob_source(str(node_cluster.blob_dir))
    atts = [attestation_from_dict(s["attestation"]) for s in states]
    # node 1 lies: it changes both replicated words of one "sum" element, seals and attests that (validly
    # signed); changing only one word would implicate the neighbour holding the other copy as well
    honest = unpack_outputs(
        open_bundle(store.get(atts[1].output_cid), job.receiver, result_context(job.job_id, 1))
    )
    share = bytearray(honest["sum"])
    share[-1] ^= 0x40  # the serialized share ends with the last element's two ring words
    share[-9] ^= 0x40
    lied = pack_outputs({**honest, "sum": bytes(share)})
    bundle = seal(lied, bytes.fromhex(job.spec.receiver_key), result_context(job.job_id, 1))
    fields = {
        k: v
        for k, v in dataclasses.asdict(atts[1]).items()
        if k not in ("node_address", "signed_at", "signature")
    }
    fields.update(output_share_hash=hashlib.sha256(bundle).hexdigest(), output_cid=store.put(bundle))
    atts[1] = sign_attestation(node_cluster.identities[1].account, **fields)
    with pytest.raises(ResultError) as err:
        fetch_result(job.job_id, atts, job.receiver, store, expected_addresses=node_cluster.addresses)
    assert err.value.nodes == [1] and "node 1" in str(err.value) and "'sum'" in str(err.value)
    # a share swapped for another node's (attestation not re-signed) is caught by its hash
    bad = dataclasses.replace(atts[2], output_share_hash=atts[0].output_share_hash)
    with pytest.raises(ResultError, match="node 2"):
        fetch_result(
            job.job_id, [atts[0], attestation_from_dict(states[1]["attestation"]), bad], job.receiver, store
        )
