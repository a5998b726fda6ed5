"""`dx node serve`: one compute node on a host of its own (a thin wrapper of `python -m mpc_compute.node`)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from dx import output
from dx.errors import ConfigError, InputError
from dx_core import keystore
from dx_core.settings import REPO_ROOT, get_settings

SERVE_HELP = (
    "Run compute node I on this host, and only it.\n\n"
    "The node follows the chain at --rpc-url, fetches and stores every blob through the exchange API at "
    "--api-url (uploads signed in as the node's own account), links to its two peers at the --spu "
    "addresses over TLS (--tls-cert/--tls-key/--tls-ca, issued by the operator with `dx cluster tls`), "
    "and keeps its work files in <data_dir>/node<I>. It runs --lanes jobs at once (default "
    "$DX_NODE_LANES, 2), lane L on each --spu port + 3L: open those ports between the node hosts, and give "
    "all three nodes the same --lanes. Of the operator's files it needs only two public "
    "ones: the deployment JSON (contract addresses) and the cluster CA's certificate.\n\n"
    "First run `dx node serve I --create-keystore --show-identity` and give the operator the line it "
    "prints (for `dx cluster register --node-key`).\n\n"
    "Node 1 of nodes at 10.0.0.11-13, with DX_DATA_DIR=/var/lib/dx-node1 and DX_KEYSTORE_PASSWORD set:\n\n"
    "[bold]Example:[/]  dx node serve 1 --rpc-url http://chain.example:8545\n"
    "    --api-url https://exchange.example\n"
    "    --deployment deployment.json --spu 10.0.0.11:9200,10.0.0.12:9200,10.0.0.13:9200\n"
    "    --tls-cert node-1.crt --tls-key node-1.key --tls-ca ca.crt --listen 0.0.0.0"
)



def register(node_app: typer.Typer) -> None:
    """Add `serve` to the `dx node` group (the node host's commands)."""
    node_app.command("serve", help=SERVE_HELP)(serve)


def node_argv(index: int, keystore_path: Path, rpc_url: str, api_url: str, deployment: Path,
              spu: list[str], work_dir: Path, listen: str, port: int | None,
              tls_files: tuple[Path, Path, Path] | None, create_keystore: bool,
              lanes: int | None = None) -> list[str]:
    """The node's command line (`python -m mpc_compute.node ...`): blobs always through `api_url`."""
    if not api_url.startswith(("http://", "https://")):
        raise InputError(f"--api-url {api_url!r} is not an http(s) URL",
                         hint="a node on its own host stores and fetches blobs only through the exchange API")
    if len(spu) != 3 or not all(a.rpartition(":")[2].isdigit() and a.rpartition(":")[0] for a in spu):
        raise InputError(f"--spu {','.join(spu)!r} is not three HOST:PORT addresses (nodes 0, 1, 2 in order)",
                         hint="e.g. --spu 10.0.0.11:9200,10.0.0.12:9200,10.0.0.13:9200")
    argv = [sys.executable, "-m", "mpc_compute.node", "--index", str(index), "--keystore", str(keystore_path),
            "--rpc-url", rpc_url, "--watch", "--blobs", api_url.rstrip("/"), "--deployment", str(deployment),
            "--spu", ",".join(spu), "--work-dir", str(work_dir), "--host", listen]
    if port is not None:
        argv += ["--port", str(port)]
    if lanes is not None:
        argv += ["--lanes", str(lanes)]
    if tls_files is not None:
        cert, key, ca = tls_files
        argv += ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(ca)]
    if create_keystore:
        argv.append("--create-keystore")
    return argv


def serve(
    index: Annotated[int, typer.Argument(help="This node's index in the cluster: 0, 1 or 2.", min=0, max=2)],
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="The chain's JSON-RPC URL.")] = None,
    api_url: Annotated[str | None, typer.Option(
        "--api-url", help="The exchange API: every blob read and write goes through it. Default $DX_API_URL.")
    ] = None,
    deployment: Annotated[Path | None, typer.Option(
        "--deployment", help="The contracts' deployment JSON (from the operator; default "
        "<data_dir>/deployment.json).")] = None,
    spu: Annotated[str | None, typer.Option(
        "--spu", help="The three nodes' SPU link addresses HOST:PORT,HOST:PORT,HOST:PORT (this node listens "
        "on its own entry's port).")] = None,
    keystore_path: Annotated[Path | None, typer.Option(
        "--keystore", help="This node's encrypted keystore (default <data_dir>/keys/node-I.json; password "
        "$DX_KEYSTORE_PASSWORD).")] = None,
    lanes: Annotated[int | None, typer.Option(
        "--lanes", min=1, help="Jobs the node runs at once; all three nodes alike (default $DX_NODE_LANES)."
    )] = None,
    listen: Annotated[str, typer.Option("--listen", help="Bind address of the control API.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="Control API port (default DX_NODE_BASE_PORT+I).")
                    ] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="This node's certificate (PEM).")
                        ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    tls_ca: Annotated[Path | None, typer.Option("--tls-ca", help="The cluster CA's certificate (PEM).")
                      ] = None,
    insecure_spu_links: Annotated[bool, typer.Option(
        "--insecure-spu-links", help="Link to the peers without TLS (debugging on one machine only).")
    ] = False,
    create_keystore: Annotated[bool, typer.Option(
        "--create-keystore", help="Create the keystore if it is missing.")] = False,
    show_identity: Annotated[bool, typer.Option(
        "--show-identity", help="Print this node's address and X25519 key for `dx cluster register "
        "--node-key`, then exit.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the node's command line, do not run it.")
                       ] = False,
) -> None:
    s = get_settings()
    ks = keystore_path or s.data_dir / "keys" / f"node-{index}.json"
    if show_identity:
        if create_keystore and not ks.exists():
            ks.parent.mkdir(parents=True, exist_ok=True)
            keystore.save(keystore.create(), ks, keystore.password_from_env())
        try:
            address, x25519 = keystore.public_info(ks)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"node {index}'s keystore {ks} cannot be read: {type(exc).__name__}",
                              hint="pass --create-keystore to make one") from None
        line = f"{index}={address},{x25519.hex()}"
        output.emit({"index": index, "address": address, "x25519_public": x25519.hex(), "node_key": line},
                    lambda: output.console.print(line, soft_wrap=True))
        return
    missing = [flag for flag, value in (("--rpc-url", rpc_url), ("--spu", spu)) if not value]
    if missing:
        raise InputError(f"a node host needs {' and '.join(missing)}",
                         hint="see `dx node serve --help` for an example")
    tls_given = [p for p in (tls_cert, tls_key, tls_ca) if p is not None]
    if tls_given and len(tls_given) != 3:
        raise InputError("--tls-cert, --tls-key and --tls-ca go together (all three, or none)")
    if not tls_given and not insecure_spu_links:
        # The links carry secret shares between hosts: plaintext brpc would hand them to the network.
        raise InputError("refusing to link to peers on other hosts without TLS",
                         hint="pass --tls-cert, --tls-key and --tls-ca (from `dx cluster tls` on the "
                         "operator host), or --insecure-spu-links for debugging on one machine")
    deployment = deployment or s.resolved_deployment_file
    if not deployment.is_file():
        raise ConfigError(f"no deployment file at {deployment}: the node needs the contracts' addresses",
                          hint="copy the operator's <data_dir>/deployment.json here and pass --deployment")
    argv = node_argv(index, ks, rpc_url, api_url or os.environ.get("DX_API_URL") or
                     f"http://127.0.0.1:{s.api_port}", deployment,
                     spu.split(","), s.data_dir / f"node{index}", listen, port,
                     (tls_cert, tls_key, tls_ca) if tls_given else None, create_keystore, lanes)
    if dry_run:
        output.emit({"argv": argv}, lambda: output.console.print(shlex.join(argv), soft_wrap=True))
        return
    env = dict(os.environ)
    # The node imports the repo's packages even when it is not pip-installed (a fresh clone).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    sys.stdout.flush()
    # exec, not a child: the node is this process, so a service manager's signals reach it directly.
    os.execve(sys.executable, argv, env)
