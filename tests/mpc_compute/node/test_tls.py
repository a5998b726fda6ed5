"""Nodes linked over TLS (per-node certificates, one CA): a job runs; a node with a foreign CA is shut out."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mpc_compute.attestation import attestation_from_dict
from mpc_compute.blob_source import open_blob_source
from mpc_compute.clients.output import fetch_result
from tests.fixtures.cluster import FAST_FAIL, prepare_joint_stats_job, start_cluster

pytestmark = pytest.mark.mpc


def _write_key(key, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def make_ca(directory: Path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def node_cert(directory: Path, ca_key, ca_cert, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.crt"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, _write_key(key, directory / f"{name}.key")


def tls_args(cert: Path, key: Path, ca: Path) -> list[str]:
    return ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(ca)]


def test_tls_cluster_runs_and_refuses_a_foreign_certificate(tmp_path):
    ca_key, ca_cert, ca_path = make_ca(tmp_path, "cluster-ca")
    args = [tls_args(*node_cert(tmp_path, ca_key, ca_cert, f"node{i}"), ca_path) for i in range(3)]
    cluster = start_cluster(tmp_path / "cluster", extra_args=FAST_FAIL, per_node_args=args)
    try:
        job = prepare_joint_stats_job(cluster, tmp_path / "job", rows=(40, 40))
        cluster.trigger(job.job_id, job.claim)
        states = cluster.wait(job.job_id)
        assert [s["status"] for s in states] == ["succeeded"] * 3, [s["error"] for s in states]
        result = fetch_result(
            job.job_id,
            [attestation_from_dict(s["attestation"]) for s in states],
            job.receiver,
            open_blob_source(str(cluster.blob_dir)),
        )
        assert result["mean"] == pytest.approx(job.expected["mean"], rel=1e-3)

        # node 2 comes back with a certificate from another CA: the others must not run with it
        rogue_key, rogue_cert, rogue_ca = make_ca(tmp_path, "rogue-ca")
        node2 = cluster.nodes[2]
        node2.stop()
        # swap only its TLS flags: the rest of its command line (work dir, chain mode) stays as it was
        at = node2.extra_args.index("--tls-cert")
        rogue_files = node_cert(tmp_path, rogue_key, rogue_cert, "rogue2")
        node2.extra_args[at : at + 6] = tls_args(*rogue_files, rogue_ca)
        node2.start()
        second = prepare_joint_stats_job(cluster, tmp_path / "job2", rows=(20, 20))
        cluster.trigger(second.job_id, second.claim)
        states = cluster.wait(second.job_id, timeout=120)
        for s in states:
            assert s["status"] == "failed" and "computed" not in [e["stage"] for e in s["timeline"]], s
    finally:
        cluster.stop()
