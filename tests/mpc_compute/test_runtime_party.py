"""run_party over three real processes: program-hash agreement, bounded waits for absent peers, TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mpc_compute import spu_runtime
from mpc_compute.algorithms import compile_program
from mpc_compute.party import InputMismatchError, PeerUnavailableError, ProgramMismatchError, TlsConfig
from tests.fixtures.local_parties import free_ports

pytestmark = pytest.mark.mpc


@pytest.fixture(scope="module")
def small_job(share_inputs):
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    program = compile_program("joint_stats", [("data_0", x.shape, "float32")], {})
    return program, x, share_inputs({"data_0": x})


def test_parties_refuse_to_run_different_programs(local_parties, small_job):
    program, _, inputs = small_job
    other = compile_program("joint_stats", [("data_0", (10, 4), "float32")], {"hist_edges": {0: [0, 10]}})
    outcomes = local_parties.run_outcomes([program, program, other], inputs, timeout=120)
    for outcome in outcomes:
        assert isinstance(outcome.error, ProgramMismatchError), outcome.error
    # ranks 0 and 1 see rank 2 differ; rank 2 sees both others differ from its own
    assert "rank 2 has" in str(outcomes[0].error) and "rank 0 has" not in str(outcomes[0].error)
    assert "rank 0 has" in str(outcomes[2].error) and "rank 1 has" in str(outcomes[2].error)
    assert other.program_hash.hex()[:16] in str(outcomes[0].error)


def test_tampered_program_is_refused_before_linking(local_parties, small_job):
    program, _, inputs = small_job
    forged = type(program)(**{**program.__dict__, "program_hash": bytes(32)})
    outcome = local_parties.run_outcomes([forged] * 3, inputs, ranks=[0], timeout=60)[0]
    assert "hash to" in str(outcome.error) and "not the stated" in str(outcome.error)


def test_missing_input_is_named(local_parties, small_job):
    program, _, _ = small_job
    outcome = local_parties.run_outcomes([program] * 3, [{}] * 3, ranks=[1], timeout=60)[0]
    assert isinstance(outcome.error, InputMismatchError)
    assert "missing ['data_0']" in str(outcome.error)


def test_peer_that_never_connects_gives_a_bounded_error(local_parties, small_job):
    program, _, inputs = small_job
    addresses = [f"127.0.0.1:{p}" for p in free_ports(3)]
    started = time.monotonic()
    outcomes = local_parties.run_outcomes(
        [program] * 3,
        inputs,
        ranks=[0, 1],
        addresses=addresses,
        timeout=120,
        connect_retry_times=4,
        connect_retry_interval_ms=250,
        recv_timeout_ms=3000,
    )
    elapsed = time.monotonic() - started
    for outcome in outcomes:
        assert isinstance(outcome.error, PeerUnavailableError), outcome.error
        assert f"party {outcome.rank}" in str(outcome.error)
    assert elapsed < 60  # bounded by the retries above, far below the 120 s harness timeout


def _write_pki(root: Path) -> list[TlsConfig]:
    """A throwaway CA and three node certificates (EC P-256), as an operator would issue them."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dx test compute CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = root / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    configs = []
    for i in range(3):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"node{i}")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = root / f"node{i}.pem", root / f"node{i}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        configs.append(TlsConfig(cert=cert_path, key=key_path, ca=ca_path))
    return configs


def test_job_over_tls(local_parties, small_job, tmp_path):
    program, x, inputs = small_job
    tls = _write_pki(tmp_path)
    outputs = local_parties.run(program, inputs, per_rank_kwargs=[{"tls": t} for t in tls], timeout=120)
    mean = spu_runtime.reconstruct([o["mean"] for o in outputs])
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-4)
