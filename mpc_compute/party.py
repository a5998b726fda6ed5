"""One compute node's side of an SPU job: link to the peers, agree on the program, run, return shares."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import spu
from spu import libspu

from mpc_compute import spu_runtime

if TYPE_CHECKING:
    from mpc_compute.algorithms import CompiledProgram

WORLD_SIZE = spu_runtime.WORLD_SIZE
log = logging.getLogger(__name__)


_CLOSE_GRACE_S = 0.2


class PartyError(RuntimeError):
    """A party could not complete its side of a job."""


class ProgramMismatchError(PartyError):
    """The parties do not hold the same program (hash), or a program does not match its own hash."""


class PeerUnavailableError(PartyError):
    """A peer did not connect, or stopped answering, within the bounded wait."""


class InputMismatchError(PartyError):
    """The inputs given to a party do not match the program's input names."""


@dataclass(frozen=True)
class TlsConfig:
    """PEM files for the brpc link: this node's certificate and key, and the CA that signed every node."""

    cert: Path
    key: Path
    ca: Path
    verify_depth: int = 1


def _fill_ssl_options(opts: libspu.link.SSLOptions, tls: TlsConfig) -> None:
    # SSLOptions has no Python constructor: fill the Desc's own objects in place
    opts.cert.certificate_path = str(tls.cert)
    opts.cert.private_key_path = str(tls.key)
    opts.verify.ca_file_path = str(tls.ca)
    opts.verify.verify_depth = tls.verify_depth


def link_desc(
    addresses: list[str],
    *,
    link_id: str,
    tls: TlsConfig | None = None,
    recv_timeout_ms: int = 60_000,
    connect_retry_times: int = 30,
    connect_retry_interval_ms: int = 500,
) -> libspu.link.Desc:
    """The brpc link description shared by the three parties of one job."""
    if len(addresses) != WORLD_SIZE:
        raise PartyError(f"an ABY3 job needs {WORLD_SIZE} party addresses, got {len(addresses)}")
    desc = libspu.link.Desc()
    desc.id = link_id
    desc.recv_timeout_ms = int(recv_timeout_ms)
    desc.http_timeout_ms = int(recv_timeout_ms)
    desc.connect_retry_times = int(connect_retry_times)
    desc.connect_retry_interval_ms = int(connect_retry_interval_ms)
    # yacl cuts big messages into pieces of this size; 32 MB stays under brpc's 64 MB body limit
    desc.http_max_payload_size = 32 << 20
    # brpc's own resend backoff (1 s, 3 s, 5 s by default) runs inside every connect attempt and made a
    # 4-attempt connect take 37 s; short fixed retries keep the bound close to retries x interval.
    desc.retry_opts.max_retry = 3
    desc.retry_opts.retry_interval_ms = 200
    desc.retry_opts.retry_interval_incr_ms = 200
    desc.retry_opts.max_retry_interval_ms = 1000
    for i, address in enumerate(addresses):
        desc.add_party(f"party{i}", address)
    if tls is not None:
        desc.enable_ssl = True
        _fill_ssl_options(desc.client_ssl_opts, tls)
        _fill_ssl_options(desc.server_ssl_opts, tls)
    return desc


def _brief(exc: BaseException) -> str:
    """yacl errors carry a C++ stack trace after the message; keep the message."""
    text = str(exc).split("stacktrace:", 1)[0]
    return " ".join(text.replace("what:", "").split())


def _finish_together(link: libspu.link.Context) -> None:
    """Barrier, then a short grace: a party that closes while a peer's last RPC is still being answered
    makes brpc abort that peer ("Fail to read from socket: Success", SetFailed(0))."""
    link.barrier()
    time.sleep(_CLOSE_GRACE_S)


def _agree_on_program(link: libspu.link.Context, rank: int, program_hash: bytes) -> None:
    """All-gather the program hashes; every party fails, naming the ranks that differ from its own."""
    try:
        gathered = link.all_gather(program_hash.hex())
    except Exception as exc:
        raise PeerUnavailableError(
            f"party {rank}: exchanging program hashes with the peers failed: {_brief(exc)}"
        ) from exc
    others = [r for r, h in enumerate(gathered) if h != program_hash.hex()]
    if others:
        _finish_together(link)
        detail = ", ".join(f"rank {r} has {gathered[r][:16]}..." for r in others)
        raise ProgramMismatchError(
            f"party {rank}: program hash mismatch: mine is {program_hash.hex()[:16]}..., {detail}"
        )


def run_party(
    rank: int,
    addresses: list[str],
    program: CompiledProgram,
    inputs: dict[str, bytes],
    *,
    tls: TlsConfig | None = None,
    recv_timeout_ms: int = 60_000,
    connect_retry_times: int = 30,
    connect_retry_interval_ms: int = 500,
    link_id: str | None = None,
) -> dict[str, bytes]:
    """Run `program` as party `rank` of three; inputs and returned outputs are serialized shares.

    The wait for peers is bounded: connecting gives up after about connect_retry_times x
    (connect_retry_interval_ms + 1.2 s of brpc resends), and every receive after recv_timeout_ms, so an
    absent peer raises PeerUnavailableError and one that dies mid-run raises PartyError.
    """
    if not 0 <= rank < WORLD_SIZE:
        raise PartyError(f"rank must be 0..{WORLD_SIZE - 1}, got {rank}")
    program.verify()
    missing = sorted(set(program.input_names) - set(inputs))
    extra = sorted(set(inputs) - set(program.input_names))
    if missing or extra:
        raise InputMismatchError(f"party {rank}: inputs missing {missing}, unexpected {extra}")
    executable = libspu.Executable()
    executable.ParseFromString(program.executable)
    config = spu_runtime.config_from_bytes(program.config)
    desc = link_desc(
        addresses,
        link_id=link_id or "dx-spu-job",
        tls=tls,
        recv_timeout_ms=recv_timeout_ms,
        connect_retry_times=connect_retry_times,
        connect_retry_interval_ms=connect_retry_interval_ms,
    )
    link = None
    runtime = None
    started = time.monotonic()
    try:
        try:
            link = libspu.link.create_brpc(desc, rank)
        except Exception as exc:
            waited = time.monotonic() - started
            raise PeerUnavailableError(
                f"party {rank}: could not connect to the peers {addresses} within {waited:.1f}s: "
                f"{_brief(exc)}"
            ) from exc
        linked = time.monotonic()
        _agree_on_program(link, rank, program.program_hash)
        runtime = spu.Runtime(link, config)
        for name in program.input_names:
            runtime.set_var(name, spu_runtime.deserialize_share(inputs[name]))
        loaded = time.monotonic()
        try:
            runtime.run(executable)
        except Exception as exc:
            raise PartyError(
                f"party {rank}: running program {program.program_hash.hex()[:16]} failed: {_brief(exc)}"
            ) from exc
        ran = time.monotonic()
        outputs = {name: spu_runtime.serialize_share(runtime.get_var(name)) for name in program.output_names}
        log.info(
            "party %d: link %.2fs, agree + load %.2fs, run %.2fs (program %s)",
            rank,
            linked - started,
            loaded - linked,
            ran - loaded,
            program.program_hash.hex()[:16],
        )
        try:
            _finish_together(link)
        except Exception as exc:
            raise PeerUnavailableError(
                f"party {rank}: final barrier with the peers failed: {_brief(exc)}"
            ) from exc
        return outputs
    finally:
        if runtime is not None:
            # drop every share held in the VM before the runtime goes (Runtime.clear is not bound in 0.9.5)
            for name in (*program.input_names, *program.output_names):
                try:
                    runtime.del_var(name)
                except Exception:
                    pass
            del runtime
        # No stop_link(): it messages the peers, and a peer that already left makes brpc abort this
        # process over TLS (SetFailed(0) on an SSL EOF). Dropping the context stops its threads quietly.
        del link
