"""`dx up` links its nodes over TLS: a CA and node certificates in the data dir, plaintext only on request."""

from __future__ import annotations

import dataclasses
import stat

import pytest
from cryptography import x509

from dx import tls
from dx.stack import StackConfig, services
from mpc_compute.attestation import attestation_from_dict
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from tests.fixtures.cluster import FAST_FAIL, prepare_joint_stats_job, start_cluster

TLS_FLAGS = ("--tls-cert", "--tls-key", "--tls-ca")


def _config(data_dir) -> StackConfig:
    return StackConfig(str(data_dir), "anvil", "http://127.0.0.1:1", "http://127.0.0.1:2", 2, 1, 3, 4)


def _tls_args(argv: list[str]) -> list[str]:
    """The TLS flags and their values in a node's command line."""
    out = []
    for flag in TLS_FLAGS:
        if flag in argv:
            out += [flag, argv[argv.index(flag) + 1]]
    return out


def _node_services(config: StackConfig):
    return [s for s in services(config) if s.name.startswith("node-")]


def test_the_stacks_nodes_get_tls_unless_told_otherwise(tmp_path):
    for i, svc in enumerate(_node_services(_config(tmp_path))):
        paths = tls.node_paths(tmp_path, i)
        assert _tls_args(svc.args) == ["--tls-cert", str(paths.cert), "--tls-key", str(paths.key),
                                       "--tls-ca", str(paths.ca)]
    insecure = dataclasses.replace(_config(tmp_path), spu_tls=False)  # dx up --insecure-spu-links
    assert all(_tls_args(svc.args) == [] for svc in _node_services(insecure))


def test_the_material_is_private_chains_to_the_ca_and_is_reused(tmp_path):
    made = tls.ensure_cluster_tls(tmp_path, 3)
    directory = tls.tls_dir(tmp_path)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for secret in (directory / "ca.key", *(m.key for m in made)):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    ca = x509.load_pem_x509_certificate(made[0].ca.read_bytes())
    for m in made:
        x509.load_pem_x509_certificate(m.cert.read_bytes()).verify_directly_issued_by(ca)
    before = {p: p.read_bytes() for m in made for p in (m.cert, m.key, m.ca)}
    tls.ensure_cluster_tls(tmp_path, 3)  # a second `dx up`: nothing changes
    assert {p: p.read_bytes() for p in before} == before

    # a node certificate swapped for one of another CA is re-issued by this CA at the next `dx up`
    foreign = tls.ensure_cluster_tls(tmp_path / "other", 3)[1]
    made[1].cert.write_bytes(foreign.cert.read_bytes())
    made[1].key.write_bytes(foreign.key.read_bytes())
    tls.ensure_cluster_tls(tmp_path, 3)
    x509.load_pem_x509_certificate(made[1].cert.read_bytes()).verify_directly_issued_by(ca)
    assert made[1].cert.read_bytes() != foreign.cert.read_bytes()


@pytest.mark.mpc
def test_stack_tls_nodes_run_a_job_and_a_foreign_ca_cannot_join(tmp_path):
    stack_dir = tmp_path / "stack"
    tls.ensure_cluster_tls(stack_dir, 3)  # what `dx up` does before it starts the nodes
    per_node = [_tls_args(svc.args) for svc in _node_services(_config(stack_dir))]
    cluster = start_cluster(tmp_path / "cluster", extra_args=FAST_FAIL, per_node_args=per_node)
    try:
        job = prepare_joint_stats_job(cluster, tmp_path / "job", rows=(40, 40))
        cluster.trigger(job.job_id, job.claim)
        states = cluster.wait(job.job_id)
        assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
        result = fetch_result(job.job_id, [attestation_from_dict(s["attestation"]) for s in states],
                              job.receiver, open_blob_source(str(cluster.blob_dir)))
        assert result["mean"] == pytest.approx(job.expected["mean"], rel=1e-3)

        # node 2 comes back with material from another data dir's CA: the others must not run with it
        rogue = tls.ensure_cluster_tls(tmp_path / "rogue", 3)[2]
        node2 = cluster.nodes[2]
        node2.stop()
        at = node2.extra_args.index("--tls-cert")
        node2.extra_args[at:at + 6] = rogue.args()
        node2.start()
        second = prepare_joint_stats_job(cluster, tmp_path / "job2", rows=(20, 20))
        cluster.trigger(second.job_id, second.claim)
        states = cluster.wait(second.job_id, timeout=120)
        for s in states:
            assert s["status"] == "failed" and "computed" not in [e["stage"] for e in s["timeline"]], s
    finally:
        cluster.stop()
