"""Start one compute node: `python -m mpc_compute.node --index I --keystore K --blobs DIR ...`."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from dx_core import keystore
from dx_core.settings import get_settings
from mpc_compute.node.app import ControlAuth, make_app
from mpc_compute.node.authorization import LocalSink, TriggerAuthorization
from mpc_compute.node.lanes import lane_addresses
from mpc_compute.node.service import NodeConfig, NodeService

# The chain side (web3) and the SPU party (spu, jax) are imported inside main, only when a node uses
# them: each takes seconds to load.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    s = get_settings()
    p = argparse.ArgumentParser(prog="python -m mpc_compute.node", description=__doc__)
    p.add_argument("--index", type=int, required=True, choices=(0, 1, 2))
    p.add_argument(
        "--keystore", type=Path, required=True, help="encrypted keystore (password: DX_KEYSTORE_PASSWORD)"
    )
    p.add_argument(
        "--spu",
        action="append",
        default=None,
        help="the three nodes' SPU link addresses host:port,host:port,host:port; repeat it once per lane "
        "to give each lane's ports (else lane L uses each port + 3L)",
    )
    p.add_argument(
        "--lane-meeting",
        action="append",
        default=None,
        help="each lane's three meeting addresses (one per --spu lane, same form); default: each lane's "
        "link ports + 3 x lanes",
    )
    p.add_argument(
        "--lanes",
        type=int,
        default=None,
        help=f"how many jobs the node runs at once (default {s.node_lanes}; the three nodes must agree)",
    )
    p.add_argument("--host", default="127.0.0.1", help="control API bind address")
    p.add_argument("--port", type=int, default=None, help="control API port (0: pick a free one)")
    p.add_argument("--port-file", type=Path, default=None, help="write the bound control port here")
    p.add_argument("--blobs", default=str(s.resolved_blob_dir), help="blob dir, exchange API URL or ipfs+URL")
    p.add_argument("--work-dir", type=Path, default=None)
    p.add_argument("--rpc-url", default=None, help="chain JSON-RPC (required unless --dev-no-chain)")
    p.add_argument(
        "--dev-no-chain",
        action="store_true",
        help="development only: no chain (jobs authorized by the trigger's claim, nothing on-chain)",
    )
    p.add_argument(
        "--operator",
        default=None,
        help="with --dev-no-chain: the address whose signature triggers jobs (on a chain: a Registry admin)",
    )
    p.add_argument(
        "--deadline-margin-s",
        type=float,
        default=60.0,
        help="refuse a job whose on-chain deadline is closer than this (seconds)",
    )
    p.add_argument("--deployment", type=Path, default=None, help="deployment JSON of the ledger contracts")
    p.add_argument("--recv-timeout-ms", type=int, default=s.spu_recv_timeout_ms)
    p.add_argument("--connect-retry-times", type=int, default=30)
    p.add_argument("--connect-retry-interval-ms", type=int, default=500)
    p.add_argument("--job-timeout-s", type=float, default=3600.0)
    p.add_argument("--tls-cert", type=Path, default=None, help="this node's certificate (PEM): TLS links")
    p.add_argument("--tls-key", type=Path, default=None, help="its private key (PEM)")
    p.add_argument("--tls-ca", type=Path, default=None, help="the CA every peer's certificate must chain to")
    p.add_argument("--create-keystore", action="store_true", help="create the keystore if it is missing")
    p.add_argument(
        "--watch", action="store_true", help="also run jobs on JobAuthorized events (needs a chain)"
    )
    p.add_argument(
        "--watch-interval-s",
        type=float,
        default=s.node_watch_seconds,
        help="how often --watch asks the chain for new blocks (one eth_blockNumber call each)",
    )
    return p.parse_args(argv)


def _spu_lanes(args: argparse.Namespace, s) -> list[list[str]]:
    """Each lane's three link addresses: as given (one --spu per lane), or derived from lane 0's."""
    given = [row.split(",") for row in args.spu or []]
    if any(len(row) != 3 for row in given):
        sys.exit("error: each --spu takes three HOST:PORT addresses (nodes 0, 1, 2 in order)")
    if len(given) > 1:
        if args.lanes not in (None, len(given)):
            sys.exit(f"error: --lanes {args.lanes} contradicts the {len(given)} --spu lanes given")
        return given
    lanes = args.lanes or s.node_lanes
    if lanes < 1:
        sys.exit("error: --lanes must be at least 1")
    first = given[0] if given else [f"127.0.0.1:{s.spu_base_port + i}" for i in range(3)]
    return lane_addresses(first, lanes)


def _lane_meetings(args: argparse.Namespace, spu_lanes: list[list[str]]) -> list[list[str]] | None:
    given = [row.split(",") for row in args.lane_meeting or []]
    if given and (len(given) != len(spu_lanes) or any(len(row) != 3 for row in given)):
        sys.exit(f"error: give one --lane-meeting of three HOST:PORT addresses per lane ({len(spu_lanes)})")
    return given or None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    s = get_settings()
    if not args.rpc_url and not args.dev_no_chain:
        sys.exit(
            "refusing to start: no chain (--rpc-url). Without a chain a node takes any trigger's claim as "
            "the job and attests nothing on-chain; pass --dev-no-chain to run it so for development."
        )
    if args.dev_no_chain and not args.operator:
        sys.exit("--dev-no-chain needs --operator ADDRESS: the key whose signature may trigger jobs")
    logging.basicConfig(
        level=s.log_level, format=f"node{args.index} %(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.create_keystore and not args.keystore.exists():
        keystore.save(keystore.create(), args.keystore, keystore.password_from_env())
    identity = keystore.load(args.keystore, keystore.password_from_env())
    spu_lanes = _spu_lanes(args, s)
    tls = None
    tls_given = [a for a in (args.tls_cert, args.tls_key, args.tls_ca) if a is not None]
    if tls_given and len(tls_given) != 3:
        # half a TLS setup would silently fall back to plaintext links
        raise SystemExit("error: --tls-cert, --tls-key and --tls-ca go together (all three, or none)")
    if args.tls_cert:
        from mpc_compute.party import TlsConfig

        missing = [str(p) for p in (args.tls_cert, args.tls_key, args.tls_ca) if not p.is_file()]
        if missing:
            raise SystemExit(f"error: TLS file(s) not found: {', '.join(missing)}")
        tls = TlsConfig(args.tls_cert, args.tls_key, args.tls_ca)
    config = NodeConfig(
        index=args.index,
        spu_lanes=spu_lanes,
        lane_meetings=_lane_meetings(args, spu_lanes),
        blobs=args.blobs,
        work_dir=args.work_dir or s.data_dir / f"node{args.index}",
        recv_timeout_ms=args.recv_timeout_ms,
        connect_retry_times=args.connect_retry_times,
        connect_retry_interval_ms=args.connect_retry_interval_ms,
        job_timeout_s=args.job_timeout_s,
        tls=tls,
        deadline_margin_s=args.deadline_margin_s,
    )
    if args.rpc_url:
        from mpc_compute.node.chain import chain_components

        authorization, sink, source, operators = chain_components(
            args.rpc_url,
            args.deployment or s.resolved_deployment_file,
            identity,
            args.index,
            config.work_dir,
            watch_interval_s=args.watch_interval_s,
        )
        control = ControlAuth(identity.address, operators.chain_id, operators.is_operator)
    else:
        operator = args.operator.lower()
        logging.getLogger("dx.node").warning(
            "DEVELOPMENT MODE, NO CHAIN: node %d authorizes jobs by the trigger's claim and attests nothing "
            "on-chain; never run it so for real data",
            args.index,
        )
        authorization, sink, source = TriggerAuthorization(), LocalSink(), None
        control = ControlAuth(identity.address, 0, lambda address: address.lower() == operator)
    service = NodeService(config, identity, authorization, sink)
    if args.watch and source is not None:
        source.start(service)
    port = s.node_base_port + args.index if args.port is None else args.port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, port))
    if args.port_file:
        args.port_file.write_text(str(sock.getsockname()[1]))
    logging.getLogger("dx.node").info(
        "node %d (%s) control API on %s:%d", args.index, identity.address, args.host, sock.getsockname()[1]
    )
    app = make_app(service, control, dev_no_chain=not args.rpc_url)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
