"""The stack's TLS material for the SPU links: a CA and a certificate + key per node in `<data_dir>/tls/`.

`dx up` calls `ensure_cluster_tls` before it starts the nodes: the first run makes a CA (its key stays
in the data dir, mode 0600, so later runs can issue node certificates from it) and a certificate per
node, valid for the loopback addresses the stack's links use; later runs reuse what is there and
re-issue only a node certificate that is missing, expiring, or not signed by this CA. Every node
verifies its peers against the CA, so a node holding a certificate from any other CA cannot join.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_DAYS = 3650
NODE_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
# The stack links its nodes over loopback; brpc checks the peer against these names.
NODE_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class NodeTls:
    """The PEM files one node needs: its certificate and key, and the cluster's CA certificate."""

    cert: Path
    key: Path
    ca: Path

    def args(self) -> list[str]:
        """The node's command-line flags (`python -m mpc_compute.node`)."""
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key), "--tls-ca", str(self.ca)]


def tls_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / TLS_DIR


def node_paths(data_dir: str | Path, index: int) -> NodeTls:
    """Where node `index`'s files are (whether or not they exist yet)."""
    d = tls_dir(data_dir)
    return NodeTls(d / f"node-{index}.crt", d / f"node-{index}.key", d / "ca.crt")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file created 0600 from the start (never briefly world-readable), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > RENEW_BEFORE


def make_ca(directory: Path, name: str = "dx-stack-ca"
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new self-signed CA in `directory` (ca.crt, ca.key 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     key_cert_sign=True, crl_sign=True, encipher_only=False,
                                     decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write_key(directory / "ca.key", key)
    _write_cert(directory / "ca.crt", cert)
    return key, cert


def issue_node_cert(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, paths: NodeTls,
                    name: str, hosts: tuple[str, ...] = NODE_HOSTS) -> None:
    """A node certificate signed by the CA, usable as TLS server and client (the links are mutual)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=NODE_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(paths.key, key)
    _write_cert(paths.cert, cert)


def _load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return key, cert


def _valid_node_cert(paths: NodeTls, ca_cert: x509.Certificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
    except (FileNotFoundError, ValueError, TypeError, InvalidSignature):
        return False
    return key.public_key() == cert.public_key() and _fresh(cert)


def ensure_cluster_tls(data_dir: str | Path, count: int) -> list[NodeTls]:
    """The CA and `count` node certificates in `<data_dir>/tls/`, made or renewed as needed."""
    directory = tls_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca = _load_ca(directory)
    if ca is None or not _fresh(ca[1]):
        ca = make_ca(directory)
    ca_key, ca_cert = ca
    out = []
    for i in range(count):
        paths = node_paths(data_dir, i)
        if not _valid_node_cert(paths, ca_cert):
            issue_node_cert(ca_key, ca_cert, paths, f"dx-node-{i}")
        out.append(paths)
    return out
