"""Every party on its own host: nodes reach blobs only through the API, endpoints come from configuration."""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from dx import datagen
from dx.actions.operator import issue_node_tls, node_endpoints, parse_node_endpoint, register_cluster
from dx.errors import InputError
from dx.stack import StackConfig, node_services, services
from dx_core import keystore
from dx_core.settings import get_settings
from mpc_compute.node.__main__ import parse_args as node_parse_args

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path) -> StackConfig:
    return StackConfig(str(tmp_path), "anvil", "http://127.0.0.1:8545", "http://127.0.0.1:18000", 18000,
                       8545, 9100, 9200)


def _dx(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dx", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture
def data_dir_env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("DX_DATA_DIR", str(tmp_path / "dx-data"))
    monkeypatch.setenv("DX_KEYSTORE_PASSWORD", "multi-host-test")
    monkeypatch.delenv("DX_NODE_HOSTS", raising=False)
    get_settings.cache_clear()
    yield {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    get_settings.cache_clear()


def test_dx_up_gives_every_node_the_api_as_its_only_blob_location(tmp_path):
    config = _config(tmp_path)
    nodes = node_services(config)
    assert [n.name for n in nodes] == ["node-0", "node-1", "node-2"]
    for svc in nodes:
        # Parsed by the node's own parser: what the node will actually use, defaults included.
        args = node_parse_args(svc.args)
        assert args.blobs == config.api_url
        assert not any("blobs" in Path(a).parts for a in svc.args), svc.args


def test_with_node_hosts_configured_dx_up_starts_no_local_node(data_dir_env, monkeypatch):
    assert "node-0" in [s.name for s in services(StackConfig.from_settings(get_settings()))]
    monkeypatch.setenv("DX_NODE_HOSTS", "0=10.0.0.11:9200,http://10.0.0.11:9100;1=10.0.0.12:9200,"
                       "http://10.0.0.12:9100;2=10.0.0.13:9200,http://10.0.0.13:9100")
    config = StackConfig.from_settings(get_settings())
    assert config.local_nodes is False
    assert [s.name for s in services(config)] == ["chain", "api", "anchorer"]


def test_a_remote_node_is_never_registered_with_a_key_from_the_operators_keystores(data_dir_env):
    # The operator's data dir holds node keystores (`dx up` made them): registering their keys for a node
    # on another host would have sellers seal shares to keys the operator holds.
    Path(data_dir_env["DX_DATA_DIR"], "keys").mkdir(parents=True)
    for i in range(3):
        keystore.save(keystore.create(), Path(data_dir_env["DX_DATA_DIR"], "keys", f"node-{i}.json"), "pw")
    remote = [f"{i}=10.0.0.1{i}:9200,http://10.0.0.1{i}:9100" for i in range(3)]
    with pytest.raises(InputError) as err:
        register_cluster("operator", remote)
    assert "node 0 is on another host" in str(err.value) and "--node-key" in err.value.hint
    with pytest.raises(InputError) as err:
        register_cluster("operator", remote, ["0=0x1234,abcd"])
    assert "is not I=ADDRESS,X25519_HEX" in str(err.value)


def test_a_client_host_without_a_stack_reaches_the_chain_named_by_dx_rpc_url(data_dir_env, monkeypatch):
    monkeypatch.delenv("DX_RPC_URL", raising=False)
    assert StackConfig.from_settings(get_settings()).own_chain
    monkeypatch.setenv("DX_RPC_URL", "http://10.0.0.1:8545")
    config = StackConfig.from_settings(get_settings())
    assert (config.chain, config.rpc_url) == ("external", "http://10.0.0.1:8545")
    # An explicit local chain kind (a `dx up --chain anvil` resuming its own chain) keeps its own node.
    assert StackConfig.from_settings(get_settings(), "anvil").rpc_url.startswith("http://127.0.0.1:")


def test_cluster_endpoints_come_from_flags_then_env_then_loopback(tmp_path, monkeypatch):
    config = _config(tmp_path)
    monkeypatch.delenv("DX_NODE_HOSTS", raising=False)
    loopback = node_endpoints(config)
    assert [e.spu_address for e in loopback] == ["127.0.0.1:9200", "127.0.0.1:9201", "127.0.0.1:9202"]
    assert [e.control_url for e in loopback] == [f"http://127.0.0.1:{9100 + i}" for i in range(3)]

    flags = ["2=10.0.0.13:9200,https://n2.example:9100/", "0=10.0.0.11:9200,http://10.0.0.11:9100",
             "1=node1.example:9300,http://node1.example:9100"]
    given = node_endpoints(config, flags)
    assert [e.index for e in given] == [0, 1, 2]
    assert [e.spu_address for e in given] == ["10.0.0.11:9200", "node1.example:9300", "10.0.0.13:9200"]
    assert given[2].control_url == "https://n2.example:9100"

    monkeypatch.setenv("DX_NODE_HOSTS", ";".join(flags))
    assert node_endpoints(config) == given
    # A flag wins over the environment.
    assert node_endpoints(config, [f.replace("10.0.0.11", "10.9.9.9") for f in flags])[0].spu_address == \
        "10.9.9.9:9200"


@pytest.mark.parametrize(("entries", "words"), [
    (["0=0.0.0.0:9200,http://a:1", "1=b:9200,http://b:1", "2=c:9200,http://c:1"], "wildcard"),
    (["0=a:9200,http://a:1", "1=b:9200,http://b:1"], "each of 0, 1, 2"),
    (["0=a:9200,http://a:1", "0=b:9200,http://b:1", "2=c:9200,http://c:1"], "each of 0, 1, 2"),
    (["0=a:9200,ftp://a:1", "1=b:9200,http://b:1", "2=c:9200,http://c:1"], "not an http(s) URL"),
    (["0=a,http://a:1", "1=b:9200,http://b:1", "2=c:9200,http://c:1"], "not HOST:PORT"),
    (["3=a:9200,http://a:1", "1=b:9200,http://b:1", "2=c:9200,http://c:1"], "I in 0, 1, 2"),
])
def test_a_node_endpoint_peers_cannot_use_is_refused_by_name(tmp_path, entries, words):
    with pytest.raises(InputError) as err:
        node_endpoints(_config(tmp_path), entries)
    assert words in str(err.value)


def test_parse_node_endpoint_keeps_a_url_with_a_path():
    ep = parse_node_endpoint("1=10.0.0.12:9201,https://gw.example/node1")
    assert (ep.index, ep.spu_address, ep.control_url) == (1, "10.0.0.12:9201", "https://gw.example/node1")


def test_node_serve_refuses_plaintext_links_between_hosts(data_dir_env, tmp_path):
    deployment = tmp_path / "deployment.json"
    deployment.write_text("{}")
    proc = _dx(data_dir_env, "node", "serve", "1", "--rpc-url", "http://10.0.0.1:8545", "--api-url",
               "http://10.0.0.1:8000", "--deployment", str(deployment), "--spu", "a:1,b:2,c:3", "--dry-run")
    assert proc.returncode != 0
    assert "without TLS" in proc.stderr


def test_node_serve_runs_the_node_with_blobs_through_the_api_and_its_own_files(data_dir_env, tmp_path):
    deployment = tmp_path / "deployment.json"
    deployment.write_text("{}")
    tls_files = [tmp_path / n for n in ("n.crt", "n.key", "ca.crt")]
    proc = _dx(data_dir_env, "--json", "node", "serve", "1", "--rpc-url", "http://10.0.0.1:8545",
               "--api-url", "https://exchange.example/", "--deployment", str(deployment),
               "--spu", "10.0.0.11:9200,10.0.0.12:9200,10.0.0.13:9200", "--tls-cert", str(tls_files[0]),
               "--tls-key", str(tls_files[1]), "--tls-ca", str(tls_files[2]), "--listen", "0.0.0.0",
               "--port", "9111", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    argv = json.loads(proc.stdout)["argv"]
    assert argv[1:3] == ["-m", "mpc_compute.node"]
    args = node_parse_args(argv[3:])  # the node's own parser accepts every flag dx passes
    data_dir = Path(data_dir_env["DX_DATA_DIR"])
    assert args.blobs == "https://exchange.example"
    assert args.spu == ["10.0.0.11:9200,10.0.0.12:9200,10.0.0.13:9200"]
    assert (args.index, args.host, args.port, args.watch) == (1, "0.0.0.0", 9111, True)
    assert args.keystore == data_dir / "keys" / "node-1.json"
    assert args.work_dir == data_dir / "node1"
    assert args.deployment == deployment
    assert [args.tls_cert, args.tls_key, args.tls_ca] == tls_files


def test_node_serve_without_the_deployment_file_says_where_to_get_it(data_dir_env):
    proc = _dx(data_dir_env, "node", "serve", "0", "--rpc-url", "http://x:1", "--api-url", "http://x:2",
               "--spu", "a:1,b:2,c:3", "--insecure-spu-links", "--dry-run")
    assert proc.returncode != 0
    assert "no deployment file" in proc.stderr and "deployment.json" in proc.stderr


def test_show_identity_prints_the_key_line_cluster_register_accepts(data_dir_env):
    proc = _dx(data_dir_env, "--json", "node", "serve", "2", "--create-keystore", "--show-identity")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    path = Path(data_dir_env["DX_DATA_DIR"]) / "keys" / "node-2.json"
    address, x25519 = keystore.public_info(path)
    assert shown["node_key"] == f"2={address},{x25519.hex()}"
    # The keystore is encrypted with the node host's password: it opens with it.
    assert keystore.load(path, "multi-host-test").address == address


def test_cluster_tls_issues_a_node_host_certificate_signed_by_the_cluster_ca(data_dir_env, tmp_path):
    out = tmp_path / "node1-tls"
    result = issue_node_tls(1, ["10.0.0.12", "node1.example"], out)
    cert = x509.load_pem_x509_certificate(Path(result["cert"]).read_bytes())
    ca = x509.load_pem_x509_certificate(Path(result["ca"]).read_bytes())
    cert.verify_directly_issued_by(ca)
    # The same CA the one-machine stack's nodes use: a node host's certificate joins that cluster.
    stack_ca = Path(data_dir_env["DX_DATA_DIR"]) / "tls" / "ca.crt"
    assert Path(result["ca"]).read_bytes() == stack_ca.read_bytes()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.12")]
    assert san.get_values_for_type(x509.DNSName) == ["node1.example"]
    assert Path(result["key"]).stat().st_mode & 0o077 == 0
    assert not (out / "ca.key").exists()
    with pytest.raises(InputError):
        issue_node_tls(1, [], out)


@pytest.mark.e2e
def test_dx_up_nodes_run_a_job_with_blobs_only_through_the_api(dx_stack):
    up = json.loads(dx_stack("--json", "up", "--timeout", "120").stdout)
    api_url = dx_stack.env["DX_API_URL"]
    run = dx_stack.data_dir / "run"
    for i in range(3):
        cmdline = Path(f"/proc/{int((run / f'node-{i}.pid').read_text())}/cmdline").read_bytes().split(b"\0")
        args = node_parse_args([a.decode() for a in cmdline[cmdline.index(b"mpc_compute.node") + 1:] if a])
        assert args.blobs == api_url, cmdline

    dx_stack("member", "admit", "tax-bureau", "--role", "provider")
    dx_stack("member", "admit", "bank-a", "--role", "buyer")
    dx_stack("member", "admit", "model-vendor", "--role", "algorithm-provider")
    base, spu = int(dx_stack.env["DX_NODE_BASE_PORT"]), int(dx_stack.env["DX_SPU_BASE_PORT"])
    flags = [a for i in range(3) for a in ("--node", f"{i}=localhost:{spu + i},http://localhost:{base + i}")]
    registered = json.loads(dx_stack("--json", "cluster", "register", *flags).stdout)
    assert [n["spu_address"] for n in registered["nodes"]] == [f"localhost:{spu + i}" for i in range(3)]
    shown = json.loads(dx_stack("--json", "cluster", "show").stdout)
    document = httpx.get(f"{api_url}/v1/blobs/{shown['endpoints_cid']}", timeout=10).json()
    assert [n["control_url"] for n in document["nodes"]] == [f"http://localhost:{base + i}" for i in range(3)]

    data = dx_stack.data_dir.parent / "data"
    dx_stack("datagen", "--out", str(data), "--enterprises", "30", "--applicants", "10",
             "--loans-per-bank", "10", "--shared-borrowers", "2", "--blacklist", "3")
    listed = json.loads(dx_stack("--json", "dataset", "publish", str(data / "tax.csv"),
                                 "--schema", "enterprise_id,revenue,tax_paid", "--as", "tax-bureau").stdout)
    algorithm = json.loads(dx_stack("--json", "algorithm", "publish", "joint_stats").stdout)["algorithm_id"]
    job = json.loads(dx_stack("--json", "job", "request", "-a", str(algorithm),
                              "-d", f"data_0={listed['dataset_id']}", "--as", "bank-a").stdout)["job_id"]
    dx_stack("approve", str(job), "--as", "tax-bureau")
    dx_stack("approve", str(job), "--as", "model-vendor")
    done = json.loads(dx_stack("--json", "job", "status", str(job), "--watch", "--as", "bank-a").stdout)
    assert done["status"] == "completed"
    out = dx_stack.data_dir.parent / "result.json"
    dx_stack("job", "result", str(job), "-o", str(out), "--as", "bank-a")
    tax = datagen.generate(7, datagen.Sizes(30, 10, 10, 2, 3)).tables["tax"].numeric(["revenue", "tax_paid"])
    assert json.loads(out.read_text())["outputs"]["mean"] == pytest.approx(tax.mean(0).tolist(), rel=1e-3,
                                                                           abs=1e-3)

    # Each node's sealed output share reached the store as an upload through the API, signed in as that
    # node: with a blob directory of their own the nodes would have left no upload record.
    nodes = {n["address"].lower() for n in registered["nodes"]}
    with sqlite3.connect(dx_stack.data_dir / "exchange.db") as db:
        uploaders = {row[0].lower() for row in db.execute("SELECT uploader FROM blob_upload")}
    assert nodes <= uploaders, (nodes, uploaders)
    assert up["deployment"]["addresses"]


# ---- five hosts: the operator, three nodes and a client, each in its own network namespace ----------------

NETNS_SUBNET = "10.232.0"
NETNS_TAG = f"{os.getpid() % 100000}"
HOSTS = {"op": 10, "n0": 11, "n1": 12, "n2": 13, "client": 20}
NETNS = {name: f"dxm{NETNS_TAG}{name}" for name in HOSTS}
NETNS_BRIDGE = f"dxmb{NETNS_TAG}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def _netns_teardown() -> None:
    for i, ns in enumerate(NETNS.values()):
        _ip("netns", "delete", ns, check=False)
        _ip("link", "delete", f"dxmv{NETNS_TAG}{i}", check=False)
    _ip("link", "delete", NETNS_BRIDGE, check=False)


@pytest.fixture
def five_hosts() -> dict[str, str]:
    """Namespace name -> its address on a bridge; each namespace has only its loopback and that veth."""
    import shutil

    if os.geteuid() != 0 or shutil.which("ip") is None or _ip("netns", "list", check=False).returncode:
        pytest.skip("needs root and `ip netns`")
    _netns_teardown()
    try:
        _ip("link", "add", NETNS_BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{NETNS_SUBNET}.254/24", "dev", NETNS_BRIDGE)
        _ip("link", "set", NETNS_BRIDGE, "up")
        for i, (name, ns) in enumerate(NETNS.items()):
            host_veth, peer = f"dxmv{NETNS_TAG}{i}", f"dxmp{NETNS_TAG}{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", host_veth, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", ns)
            _ip("link", "set", host_veth, "master", NETNS_BRIDGE)
            _ip("link", "set", host_veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", peer, "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{NETNS_SUBNET}.{HOSTS[name]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        yield {name: f"{NETNS_SUBNET}.{HOSTS[name]}" for name in HOSTS}
    finally:
        _netns_teardown()


class Host:
    """One party's machine: a network namespace, a data dir of its own and its environment."""

    def __init__(self, name: str, root: Path, env: dict[str, str]) -> None:
        self.name, self.ns, self.data_dir = name, NETNS[name], root / name
        self.data_dir.mkdir(parents=True)
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200",
                    "DX_DATA_DIR": str(self.data_dir), **env}
        for var in ("DX_NODE_HOSTS", "DX_RPC_URL", "DX_DEPLOYMENT_FILE", "DX_BLOB_DIR"):
            if var not in env:
                self.env.pop(var, None)

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, sys.executable, "-m", "dx", *args]

    def dx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env,
                              cwd=self.data_dir, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"[{self.name}] dx {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
        return proc

    def json(self, *args: str) -> dict | list:
        return json.loads(self.dx("--json", *args).stdout)


def _fund(rpc_url: str, addresses: list[str]) -> None:
    from eth_account import Account

    from contracts import web3_at
    from ganache.launcher import DEV_KEYS

    w3, faucet = web3_at(rpc_url), Account.from_key(DEV_KEYS[0])  # the test plays the chain's faucet
    for address in addresses:
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(faucet.sign_transaction({
            "to": address, "value": 10**20, "gas": 21000, "gasPrice": w3.eth.gas_price,
            "nonce": w3.eth.get_transaction_count(faucet.address), "chainId": w3.eth.chain_id,
        }).raw_transaction))


@pytest.mark.e2e
@pytest.mark.netns
def test_five_hosts_run_a_job_with_no_shared_data_dir_and_tls_links(five_hosts, tmp_path):
    import shutil

    from ganache.launcher import ANVIL_BIN, DEV_MNEMONIC

    ip = five_hosts
    root = tmp_path / "hosts"
    rpc_url, api_url = f"http://{ip['op']}:8545", f"http://{ip['op']}:8000"
    spu = ",".join(f"{ip[f'n{i}']}:9200" for i in range(3))
    node_hosts = ";".join(f"{i}={ip[f'n{i}']}:9200,http://{ip[f'n{i}']}:9100" for i in range(3))
    op = Host("op", root, {"DX_API_HOST": "0.0.0.0", "DX_API_PORT": "8000", "DX_API_URL": api_url,
                           "DX_SIWE_DOMAIN": f"{ip['op']}:8000", "DX_NODE_HOSTS": node_hosts,
                           "DX_KEYSTORE_PASSWORD": "operator-password", "DX_ANCHOR_EVERY_SECONDS": "2"})
    nodes = [Host(f"n{i}", root, {"DX_KEYSTORE_PASSWORD": f"node-{i}-password"}) for i in range(3)]
    client = Host("client", root, {"DX_API_URL": api_url, "DX_RPC_URL": rpc_url,
                                   "DX_KEYSTORE_PASSWORD": "client-password"})
    processes: list[subprocess.Popen] = []
    chain_log = (root / "anvil.log").open("wb")
    try:
        # The operator host runs the chain (standing in for Besu or Geth) where every host can reach it.
        processes.append(subprocess.Popen(
            ["ip", "netns", "exec", op.ns, str(ANVIL_BIN), "--host", "0.0.0.0", "--port", "8545",
             "--mnemonic", DEV_MNEMONIC, "--hardfork", "shanghai"],
            stdout=chain_log, stderr=subprocess.STDOUT))
        _wait_for(lambda: _rpc_chain_id(rpc_url) is not None, processes[0], root / "anvil.log")

        # Operator host: fresh keys, funded, then API and anchorer only (the nodes are elsewhere).
        assert op.dx("--json", "up", "--rpc-url", rpc_url, check=False).returncode == 3
        _fund(rpc_url, [a["address"] for a in op.json("account", "list")])
        op.json("up", "--rpc-url", rpc_url, "--timeout", "120")
        assert {s["name"] for s in op.json("status")["services"]} == {"chain", "api", "anchorer"}
        deployment = op.data_dir / "deployment.json"

        # Each node host: its own keystore; the operator funds it and issues its TLS files from the
        # cluster CA (copied over as scp would); the public deployment file is copied too.
        keys = []
        for i, node in enumerate(nodes):
            keys.append(node.json("node", "serve", str(i), "--create-keystore",
                                  "--show-identity")["node_key"])
            _fund(rpc_url, [keys[-1].split("=")[1].split(",")[0]])
            op.json("cluster", "tls", str(i), "--host", ip[f"n{i}"], "--out", str(op.data_dir / f"tls-n{i}"))
            shutil.copytree(op.data_dir / f"tls-n{i}", node.data_dir / "tls")
            shutil.copy(deployment, node.data_dir / "deployment.json")
        shutil.copy(deployment, client.data_dir / "deployment.json")

        # The client host: its members' own keys; the operator admits them by address and key.
        for name in ("tax-bureau", "bank-a", "model-vendor"):
            client.dx("account", "new", name)
        members = {a["name"]: a for a in client.json("account", "list")}
        _fund(rpc_url, [m["address"] for m in members.values()])
        roles = {"tax-bureau": "provider", "bank-a": "buyer", "model-vendor": "algorithm-provider"}
        for name, role in roles.items():
            op.dx("member", "admit", members[name]["address"], "--role", role,
                  "--x25519", members[name]["x25519_public"])
        registered = op.json("cluster", "register", *[a for k in keys for a in ("--node-key", k)])
        assert [n["spu_address"] for n in registered["nodes"]] == spu.split(",")

        for i, node in enumerate(nodes):
            tls_dir = node.data_dir / "tls"
            log = (node.data_dir / "node.log").open("wb")
            processes.append(subprocess.Popen(
                node.argv("node", "serve", str(i), "--rpc-url", rpc_url, "--api-url", api_url,
                          "--spu", spu, "--listen", ip[f"n{i}"], "--port", "9100",
                          "--tls-cert", str(tls_dir / f"node-{i}.crt"),
                          "--tls-key", str(tls_dir / f"node-{i}.key"), "--tls-ca", str(tls_dir / "ca.crt")),
                stdout=log, stderr=subprocess.STDOUT, env=node.env, cwd=node.data_dir))
        for i in range(3):
            url = f"http://{ip[f'n{i}']}:9100/health"
            _wait_for(lambda url=url: _healthy(url), processes[1 + i], nodes[i].data_dir / "node.log")
            # `ip netns exec` and `dx node serve` both exec: the process is the node itself.
            cmdline = Path(f"/proc/{processes[1 + i].pid}/cmdline").read_bytes().decode().split("\0")
            args = node_parse_args([a for a in cmdline[cmdline.index("mpc_compute.node") + 1:] if a])
            assert (args.blobs, args.spu, args.rpc_url) == (api_url, [spu], rpc_url)
            assert args.tls_cert.parent == args.tls_ca.parent == nodes[i].data_dir / "tls"
            assert args.keystore.is_relative_to(nodes[i].data_dir)
            assert args.work_dir.is_relative_to(nodes[i].data_dir)

        # The client: publish, request, approve, watch, reconstruct; all through the API and the chain.
        data = client.data_dir / "data"
        client.dx("datagen", "--out", str(data), "--enterprises", "30", "--applicants", "10",
                  "--loans-per-bank", "10", "--shared-borrowers", "2", "--blacklist", "3")
        listed = client.json("dataset", "publish", str(data / "tax.csv"), "--schema",
                             "enterprise_id,revenue,tax_paid", "--as", "tax-bureau")
        algorithm = client.json("algorithm", "publish", "joint_stats", "--as", "model-vendor")["algorithm_id"]
        job = client.json("job", "request", "-a", str(algorithm), "-d", f"data_0={listed['dataset_id']}",
                          "--as", "bank-a")["job_id"]
        client.dx("approve", str(job), "--as", "tax-bureau")
        client.dx("approve", str(job), "--as", "model-vendor")
        done = client.json("job", "status", str(job), "--watch", "--as", "bank-a")
        assert done["status"] == "completed", done
        out = client.data_dir / "result.json"
        client.dx("job", "result", str(job), "-o", str(out), "--as", "bank-a")
        tax = datagen.generate(7, datagen.Sizes(30, 10, 10, 2, 3)).tables["tax"]
        expected = tax.numeric(["revenue", "tax_paid"]).mean(0).tolist()
        assert json.loads(out.read_text())["outputs"]["mean"] == pytest.approx(expected, rel=1e-3, abs=1e-3)
        # No host holds another's store: only the operator has a blob directory; the nodes' work dirs
        # hold their own files, never a blob store.
        for host in (*nodes, client):
            assert not (host.data_dir / "blobs").exists(), host.name
        assert any((op.data_dir / "blobs").iterdir())
    finally:
        op.dx("down", "--timeout", "20", check=False)
        for proc in reversed(processes):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        chain_log.close()


def _rpc_chain_id(rpc_url: str) -> int | None:
    from dx.stack import rpc_alive

    return rpc_alive(rpc_url, timeout=1.0)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(ready, proc: subprocess.Popen, log: Path) -> None:
    """Until `ready()`; a process that exits first fails the test with its log (no time limit: CI is slow)."""
    import time

    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
