"""Node control API: operator-signed triggers, nothing for unknown jobs, chain-only status, dev mode."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from eth_account import Account

from contracts import JobStatus
from contracts.errors import ContractRevert
from dx_core import keystore
from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from mpc_compute.node.app import sign_control
from tests.fixtures.chain import increase_time
from tests.fixtures.cluster import PASSWORD, REPO
from tests.mpc_compute.node.test_deadline import authorized_job, start_chain_cluster

PUBLIC_KEYS = {"job_id", "status", "attempt", "timeline", "error", "chain"}


def _start_node(tmp_path, *args: str) -> tuple[subprocess.Popen, str]:
    """Start a node process; returns it once it has exited or bound its control port."""
    path = keystore.save(keystore.create(), tmp_path / "node.keystore.json", PASSWORD, scrypt_n=2**12)
    port_file = tmp_path / "node.port"
    log = tmp_path / "node.log"
    cmd = [sys.executable, "-m", "mpc_compute.node", "--index", "0", "--keystore", str(path), "--port", "0"]
    cmd += ["--port-file", str(port_file), "--blobs", str(tmp_path / "b"), "--work-dir", str(tmp_path / "w")]
    cmd += args
    env = {**os.environ, "DX_KEYSTORE_PASSWORD": PASSWORD, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    while proc.poll() is None and not (port_file.exists() and port_file.read_text().strip()):
        time.sleep(0.2)
    return proc, log.read_text() if proc.poll() is not None else ""


@pytest.mark.mpc
def test_node_without_a_chain_refuses_to_start_unless_told_it_is_development(tmp_path):
    proc, output = _start_node(tmp_path)
    try:
        assert proc.returncode not in (None, 0), "a node without a chain started"
        assert "refusing to start: no chain" in output and "--dev-no-chain" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (tmp_path / "node.keystore.json").unlink()
    operator = Account.create()
    proc, _ = _start_node(tmp_path, "--dev-no-chain", "--operator", operator.address)
    try:
        assert proc.poll() is None, (tmp_path / "node.log").read_text()[-2000:]
        port = int((tmp_path / "node.port").read_text())
        health = None
        while health is None and proc.poll() is None:  # the port is bound before the server listens
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, (tmp_path / "node.log").read_text()[-2000:]
        assert health["mode"] == "dev-no-chain"
        assert "DEVELOPMENT MODE, NO CHAIN" in (tmp_path / "node.log").read_text()
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.mpc
@pytest.mark.chain
def test_triggers_need_the_operator_and_status_shows_only_what_the_chain_shows(
    chain, w3, ledger, deployment, dev_accounts, operator, chain_snapshot, tmp_path
):
    nodes, (p1, p2, algo, buyer) = dev_accounts[13:16], dev_accounts[16:20]
    members = [(p1, Role.PROVIDER), (p2, Role.PROVIDER), (algo, Role.ALGORITHM_PROVIDER), (buyer, Role.BUYER)]
    cluster = start_chain_cluster(tmp_path, chain, ledger, deployment, operator, nodes, False, members)
    url = [n.url for n in cluster.nodes]
    jobs_dir = [tmp_path / "cluster" / f"node{i}" / "jobs" for i in range(3)]
    chain_id = deployment.chain_id

    def run(i: int, job_id: int, headers: dict | None) -> httpx.Response:
        return httpx.post(f"{url[i]}/jobs/{job_id}/run", headers=headers, timeout=30)

    try:
        job = authorized_job(cluster, tmp_path / "job", w3, ledger, (p1, p2), algo, buyer, seconds_left=3600)
        node0 = cluster.addresses[0]

        # anyone: no signature, a member's signature, the operator's for another node or job, a stale one
        unsigned = run(0, job.job_id, None)
        assert unsigned.status_code == 401 and unsigned.json()["rule"] == "operator_signature_required"
        by_buyer = run(0, job.job_id, sign_control(buyer, job.job_id, node0, chain_id))
        assert by_buyer.status_code == 403 and by_buyer.json()["rule"] == "operator_only"
        other_node = run(0, job.job_id, sign_control(operator, job.job_id, cluster.addresses[1], chain_id))
        assert other_node.status_code == 403
        other_job = run(0, job.job_id, sign_control(operator, job.job_id + 1, node0, chain_id))
        assert other_job.status_code == 403
        other_chain = run(0, job.job_id, sign_control(operator, job.job_id, node0, chain_id + 1))
        assert other_chain.status_code == 403
        old = int(time.time()) - 3600
        stale = run(0, job.job_id, sign_control(operator, job.job_id, node0, chain_id, issued=old))
        assert stale.status_code == 401 and stale.json()["rule"] == "signature_time"
        assert cluster.status(0, job.job_id)["status"] == "unseen"

        # the operator, for a job id the chain does not have: refused, and nothing is created
        for job_id in (job.job_id + 500, 2**63):
            resp = run(0, job_id, sign_control(operator, job_id, node0, chain_id))
            assert resp.status_code == 409 and resp.json()["rule"] == "job_not_authorized", resp.text
            assert "does not exist on-chain" in resp.json()["detail"]
            assert httpx.get(f"{url[0]}/jobs/{job_id}", timeout=10).status_code == 404
        assert list(jobs_dir[0].glob("*")) == []
        assert httpx.get(f"{url[0]}/health", timeout=10).json()["jobs_running"] == 0

        # the operator's signed trigger runs it; the same signed request cannot be replayed
        signed = [sign_control(operator, job.job_id, cluster.addresses[i], chain_id) for i in range(3)]
        assert [run(i, job.job_id, signed[i]).status_code for i in range(3)] == [202] * 3
        replayed = run(0, job.job_id, signed[0])
        assert replayed.status_code == 401 and replayed.json()["rule"] == "signature_replayed"
        states = cluster.wait(job.job_id)
        assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
        assert ledger.jobs.job(job.job_id).status is JobStatus.COMPLETED

        # the status: stage names and times, status, transactions; no attestation, CID or paths
        cids = [cid_from_digest(bytes(a.output_share_hash)) for a in ledger.jobs.attestations(job.job_id)]
        for i, s in enumerate(states):
            assert set(s) == PUBLIC_KEYS, s.keys()
            assert all(set(e) <= {"stage", "at", "attempt"} for e in s["timeline"])
            text = httpx.get(f"{url[i]}/jobs/{job.job_id}", timeout=10).text
            assert not any(cid in text for cid in cids)
            assert str(tmp_path) not in text
            assert "output_published" in [e["stage"] for e in s["timeline"]]

        # a result and no refund: the shares were published on completion, a reclaim later is refused
        result = fetch_result(
            job.job_id,
            ledger.jobs.attestations(job.job_id),
            job.prepared.receiver,
            open_blob_source(str(cluster.blob_dir)),
            expected_addresses=cluster.addresses,
            expected_program_hash=job.program_hash,
        )
        assert float(result["count"]) == pytest.approx(80, abs=1e-3)
        increase_time(w3, 3700)
        with pytest.raises(ContractRevert, match="InvalidStatus"):
            ledger.jobs.reclaim(buyer, job.job_id)
    finally:
        cluster.stop()
