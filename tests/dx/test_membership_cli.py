"""Membership through the real `dx` entry point on a real chain and API: the operator suspends and
reinstates a seller, a member rotates its X25519 key, a compute node's rotation is refused with the steps."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dx import context, identities
from dx.cli import main
from dx.errors import RemoteError
from dx_core import keystore
from dx_core.roles import Role
from dx_core.settings import get_settings
from mpc_compute import envelope
from tests.fixtures.cluster import PASSWORD as NODE_PASSWORD

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
# The node processes of test_reseal open their keystores (in this data dir) with the cluster's password.
PASSWORD = NODE_PASSWORD
CAST = {"seller": Role.PROVIDER, "buyer": Role.BUYER | Role.PROVIDER, "vendor": Role.ALGORITHM_PROVIDER,
        "node0": Role.COMPUTE_NODE, "node1": Role.COMPUTE_NODE, "node2": Role.COMPUTE_NODE}
ROWS = 24


@dataclass
class DxWorld:
    """A dx data dir whose keystores are members of the API suite's deployment, with a cluster of its own."""

    w: object  # tests.fixtures.api.ApiWorld
    data_dir: Path
    address: dict[str, str]
    csv: Path
    blob_dir: Path  # the API's blob store: what was uploaded

    def blob_count(self) -> int:
        return sum(1 for p in self.blob_dir.rglob("*") if p.is_file())


def fresh_process() -> None:
    """What a new `dx` process starts with: no cached settings, ledger, signed-in client or keystore."""
    get_settings.cache_clear()
    context.ledger.cache_clear()
    context.client.cache_clear()
    identities._cache.clear()  # one process per command, as the real CLI runs


def dx(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `dx ARGV` through its console entry point; (exit code, stdout, stderr)."""
    fresh_process()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def dx_json(capsys, *argv: str):  # type: ignore[no-untyped-def]
    code, out, err = dx(capsys, "--json", *argv)
    assert code == 0, f"dx {' '.join(argv)} exited {code}: {out}\n{err}"
    return json.loads(out)


def write_table(path: Path, rows: int = ROWS, scale: float = 1.0) -> Path:
    lines = ["enterprise_id,revenue,tax_paid"]
    lines += [f"E{i:04d},{(1000 + 37 * i) * scale:.1f},{(100 + 3 * i) * scale:.1f}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def dx_world(tmp_path_factory, chain, api_world, api_server) -> Iterator[DxWorld]:
    """Keystores for the operator and a cast in a private data dir, every dx setting pointed at the
    session chain and API; the cast admitted with its keystores' X25519 keys, the nodes as the cluster."""
    from mpc_compute import spu_runtime

    data_dir = tmp_path_factory.mktemp("dx-cli") / "data"
    patch = pytest.MonkeyPatch()
    for var in [v for v in os.environ if v.startswith("DX_")]:
        patch.delenv(var)
    patch.setenv("DX_DATA_DIR", str(data_dir))
    patch.setenv("DX_API_URL", api_server.url)
    # dx reaches the chain at the settings' chain port (no stack.json in this data dir)
    patch.setenv("DX_CHAIN_PORT", chain.rpc_url.rsplit(":", 1)[1].strip("/"))
    patch.setenv("DX_DEPLOYMENT_FILE", str(api_world.deployment_file))
    patch.setenv("DX_KEYSTORE_PASSWORD", PASSWORD)
    patch.setenv("COLUMNS", "200")
    fresh_process()
    try:
        w = api_world
        identities.create("operator", w.operator.key.to_0x_hex(), identities.DEV_SCRYPT_N, local=False)
        address = {"operator": w.operator.address}
        for name, roles in CAST.items():
            made = identities.create(name, None, identities.DEV_SCRYPT_N, local=False)
            address[name] = made.address
            w.fund(made.address)
            w.ledger.registry.admit(w.operator, made.address, roles, bytes.fromhex(made.x25519_public), "")
        w.ledger.registry.register_cluster(w.operator, [address[f"node{i}"] for i in range(3)],
                                           "bafkreicliendpoints", spu_runtime.config_hash(), 0)
        csv = write_table(data_dir.parent / "tax.csv")
        yield DxWorld(w, data_dir, address, csv, Path(api_server.settings.resolved_blob_dir))
    finally:
        fresh_process()
        patch.undo()
        get_settings.cache_clear()


def publish(capsys, world: DxWorld, who: str = "seller") -> tuple[int, str, str]:
    return dx(capsys, "--json", "dataset", "publish", str(world.csv), "--schema",
              "enterprise_id,revenue,tax_paid", "--price", "100", "--as", who)


def test_a_suspended_seller_can_neither_publish_nor_be_bought_until_reinstated(dx_world, capsys) -> None:
    w, seller = dx_world.w, dx_world.address["seller"]
    dataset = publish(capsys, dx_world)
    assert dataset[0] == 0, dataset
    dataset_id = json.loads(dataset[1])["dataset_id"]
    algorithm = dx_json(capsys, "algorithm", "publish", "joint_stats", "--as", "vendor")["algorithm_id"]

    done = dx_json(capsys, "member", "suspend", "seller", "--as", "operator")
    assert done["suspended"] is True and done["address"] == seller
    assert w.ledger.registry.member(seller).suspended is True
    assert not w.ledger.registry.is_active(seller, Role.PROVIDER)

    # The seller's next publish is refused before anything is shared, naming the chain's rule.
    code, out, err = publish(capsys, dx_world)
    assert code != 0 and "NotActiveMember" in out + err, (out, err)
    assert "suspended" in out + err

    # A buyer's request over the suspended seller's listing is refused before any escrow is locked:
    # the owner could never approve it (ComputeJobs refuses a suspended approver).
    jobs_before = w.ledger.jobs.job_count()
    code, out, err = dx(capsys, "--json", "job", "request", "-a", str(algorithm), "-d",
                        f"data_0={dataset_id}", "--as", "buyer")
    assert code != 0 and "suspended" in out + err and "NotActiveMember" in out + err, (out, err)
    assert w.ledger.jobs.job_count() == jobs_before

    # A suspended buyer's own request is refused the same way (ComputeJobs.request's rule), before the
    # program is compiled or the spec uploaded.
    dx_json(capsys, "member", "reinstate", "seller", "--as", "operator")
    dx_json(capsys, "member", "suspend", "buyer", "--as", "operator")
    code, out, err = dx(capsys, "--json", "job", "request", "-a", str(algorithm), "-d",
                        f"data_0={dataset_id}", "--as", "buyer")
    assert code != 0 and "buyer" in out + err and "NotActiveMember" in out + err, (out, err)
    dx_json(capsys, "member", "reinstate", "buyer", "--as", "operator")
    dx_json(capsys, "member", "suspend", "seller", "--as", "operator")
    assert w.ledger.jobs.job_count() == jobs_before

    # Suspending twice is refused in words; reinstating restores both paths.
    code, out, err = dx(capsys, "member", "suspend", "seller", "--as", "operator")
    assert code != 0 and "already suspended" in out + err
    assert dx_json(capsys, "member", "reinstate", "seller", "--as", "operator")["suspended"] is False
    assert w.ledger.registry.is_active(seller, Role.PROVIDER)
    again = publish(capsys, dx_world)
    assert again[0] == 0, again
    job = dx_json(capsys, "job", "request", "-a", str(algorithm), "-d", f"data_0={dataset_id}",
                  "--as", "buyer")
    assert w.ledger.jobs.job(job["job_id"]) is not None


def test_only_the_operator_suspends(dx_world, capsys) -> None:
    w = dx_world.w
    code, out, err = dx(capsys, "member", "suspend", "vendor", "--as", "buyer")
    assert code != 0
    assert "operator" in out + err and "buyer" in out + err, (out, err)
    assert "Traceback" not in out + err
    assert w.ledger.registry.member(dx_world.address["vendor"]).suspended is False


def test_a_buyer_rotates_its_key_and_only_the_new_one_opens_what_is_sealed_to_it(dx_world, capsys) -> None:
    w, buyer = dx_world.w, dx_world.address["buyer"]
    path = identities.path_of("buyer")
    old = keystore.load(path, PASSWORD)
    old_secret = old.x25519.private_bytes_raw()

    done = dx_json(capsys, "account", "rotate-key", "--as", "buyer")
    assert done["old_key"] == old.x25519_public.hex() and done["new_key"] != done["old_key"]
    assert done["required_next"] == [] and done["compute_node"] is False
    registered = bytes(w.ledger.registry.member(buyer).encryption_key)
    assert registered.hex() == done["new_key"]

    # The keystore holds the private half of the registered key, under the same account.
    new = keystore.load(path, PASSWORD)
    assert new.address == buyer and new.x25519_public == registered
    sealed = envelope.seal(b"a job result", registered, "result:1")
    assert envelope.open_bundle(sealed, new.x25519, "result:1") == b"a job result"
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_bundle(sealed, old.x25519, "result:1")

    # The old key is kept (results of earlier jobs open only with it), encrypted: no file in the data
    # dir holds it, or the new one, in plaintext.
    retired = Path(done["retired_keystore"])
    assert keystore.load(retired, PASSWORD).x25519_public == old.x25519_public
    secrets_hex = {old_secret.hex(), new.x25519.private_bytes_raw().hex()}
    for file in dx_world.data_dir.rglob("*"):
        if file.is_file():
            raw = file.read_bytes()
            for secret in (old_secret, new.x25519.private_bytes_raw()):
                assert secret not in raw, file
            assert not any(h.encode() in raw.lower() for h in secrets_hex), file
    assert not list((identities.keys_dir() / "rotating").glob("*"))

    # `dx job request` now seals to the new key: the Registry accepts it as the result key.
    assert secrets.compare_digest(bytes.fromhex(identities.info("buyer").x25519_public), registered)


def test_a_compute_node_rotation_without_force_is_refused_with_the_steps(dx_world, capsys) -> None:
    w, node = dx_world.w, dx_world.address["node1"]
    before = bytes(w.ledger.registry.member(node).encryption_key)
    code, out, err = dx(capsys, "account", "rotate-key", "--as", "node1")
    assert code != 0
    text = " ".join((out + err).split())
    assert "compute node" in text and "--force" in text
    assert "dx dataset update" in text and "dx down" in text  # the steps it takes, in the message
    assert bytes(w.ledger.registry.member(node).encryption_key) == before
    assert keystore.load(identities.path_of("node1"), PASSWORD).x25519_public == before


def test_a_suspended_vendor_cannot_publish_a_secret_model(dx_world, capsys, tmp_path) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps({"weights": [0.5, 0.25], "bias": 1.0, "name": "m"}))
    count = dx_world.w.ledger.market.algorithm_count()
    dx_json(capsys, "member", "suspend", "vendor", "--as", "operator")
    try:
        blobs = dx_world.blob_count()
        code, out, err = dx(capsys, "--json", "algorithm", "publish", "secret_model_score", "--model",
                            str(model), "--as", "vendor")
        assert code != 0 and "NotActiveMember" in out + err and "suspended" in out + err, (out, err)
        assert dx_world.blob_count() == blobs  # refused before the model was shared and uploaded
        assert dx_world.w.ledger.market.algorithm_count() == count
    finally:
        dx_json(capsys, "member", "reinstate", "vendor", "--as", "operator")


def test_a_refused_blob_upload_is_one_line_not_a_traceback(dx_world) -> None:
    from dx.cli import translate
    from mpc_compute.blob_source import HttpBlobStore

    with pytest.raises(Exception) as raised:  # no token: the API's blob route refuses the upload
        HttpBlobStore(context.api_url()).put(b"no member uploads this")
    err = translate(raised.value)
    assert isinstance(err, RemoteError), raised.value
    assert "PUT /v1/blobs" in err.message and "401" in err.message
