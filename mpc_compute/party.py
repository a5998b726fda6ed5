"""One compute node's side of an SPU job: link to the peers, agree on the program, run, return shares."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import spu
from spu import libspu

from mpc_compute import dp, guard, rendezvous, spu_runtime

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


def _noise_inputs(rank: int, input_names: tuple[str, ...]) -> dict[int, tuple[str, int]]:
    """The program's node-noise inputs by the rank that makes them; a malformed set is refused."""
    found: dict[int, tuple[str, int]] = {}
    for name in input_names:
        if not dp.is_noise_input(name):
            continue
        parsed = dp.parse_noise_input(name)
        if parsed is None or parsed[0] >= WORLD_SIZE or parsed[0] in found:
            raise InputMismatchError(f"party {rank}: malformed or repeated node-noise input {name!r}")
        found[parsed[0]] = (name, parsed[1])
    if found and (set(found) != set(range(WORLD_SIZE)) or len({n for _, n in found.values()}) != 1):
        raise InputMismatchError(
            f"party {rank}: node-noise inputs must be one per rank with one length, got {sorted(input_names)}"
        )
    return found


def _exchange_noise(
    link: libspu.link.Context,
    rank: int,
    noise: dict[int, tuple[str, int]],
    config: libspu.RuntimeConfig,
    seed: int | None,
) -> dict[str, libspu.Share]:
    """Sample this node's unit DP noise, share it, send each peer its share; receive the peers' shares.

    Ranks take turns (0, then 1, then 2): the one whose turn it is sends, the others receive, so the
    order is the same on every party whether brpc's send blocks or not. The plaintext draws are
    overwritten as soon as they are shared; only this party's share of them stays.
    """
    mine: dict[str, libspu.Share] = {}
    for src in range(WORLD_SIZE):
        name, length = noise[src]
        if src == rank:
            draws = dp.sample_unit_noise(length, dp.node_rng(seed, rank))
            shares = spu.Io(WORLD_SIZE, config).make_shares(draws, libspu.Visibility.VIS_SECRET)
            draws.fill(0.0)
            del draws
            for dst in range(WORLD_SIZE):
                if dst != rank:
                    link.send(dst, spu_runtime.serialize_share(shares[dst]))
            mine[name] = shares[rank]
            del shares
        else:
            try:
                raw = link.recv(src)
            except Exception as exc:
                raise PeerUnavailableError(
                    f"party {rank}: receiving the DP noise share of rank {src} failed: {_brief(exc)}"
                ) from exc
            try:
                parsed = spu_runtime.parse_share(raw)
                shape = parsed.shape()
            except spu_runtime.ShareFormatError as exc:
                raise PartyError(f"party {rank}: rank {src} sent a malformed DP noise share: {exc}") from exc
            if shape != (length,):
                raise PartyError(
                    f"party {rank}: rank {src} sent a DP noise share of shape {shape}, the program needs "
                    f"({length},)"
                )
            mine[name] = parsed.to_spu()
    return mine


class GuardMismatchError(PartyError):
    """The nodes would run the differencing guard over different programs or different earlier cohorts."""


def _run_guard(
    link: libspu.link.Context,
    runtime: spu.Runtime,
    rank: int,
    program: CompiledProgram,
    plan: guard.GuardPlan,
) -> tuple[CompiledProgram, dict[str, bytes]]:
    """After the algorithm's program: agree on the guard, feed it the outputs and the kept cohorts, run it."""
    try:
        guard_program = plan.program or guard.compile_guard(program, plan)
        guard_program.verify()
        for seg in plan.segments:
            for prior in seg.checked:
                guard.check_prior_shape(seg, prior)
    except ValueError as exc:  # GuardError, or AlgorithmError from a program that is not its hash
        raise PartyError(f"party {rank}: differencing guard: {exc}") from exc
    mine = guard.agreement_digest(guard_program, plan).hex()
    try:
        gathered = link.all_gather(mine)
    except Exception as exc:
        raise PeerUnavailableError(
            f"party {rank}: exchanging the differencing guard's digest failed: {_brief(exc)}"
        ) from exc
    others = [r for r, d in enumerate(gathered) if d != mine]
    if others:
        _finish_together(link)
        checked = sum(len(s.checked) for s in plan.segments)
        raise GuardMismatchError(
            f"party {rank}: the differencing guard differs at rank(s) {others}: this node checks "
            f"{checked} earlier cohort(s) of {[s.input_name for s in plan.segments]}; the nodes' kept "
            "cohorts disagree, so nothing is released"
        )
    for name in (*program.output_names, *program.kept_outputs):
        share = runtime.get_var(name)
        runtime.del_var(name)
        runtime.set_var(f"{guard.PRE_PREFIX}{name}", share)
    for seg in plan.segments:
        for prior in seg.checked:
            runtime.set_var(
                guard.prior_name(seg.input_name, prior.job_id), spu_runtime.deserialize_share(prior.share)
            )
    executable = libspu.Executable()
    executable.ParseFromString(guard_program.executable)
    try:
        runtime.run(executable)
    except Exception as exc:
        raise PartyError(f"party {rank}: running the differencing guard failed: {_brief(exc)}") from exc
    outputs = {
        name: spu_runtime.serialize_share(runtime.get_var(name)) for name in guard_program.output_names
    }
    return guard_program, outputs


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
    dp_noise_seed: int | None = None,
    differencing_guard: guard.GuardPlan | None = None,
) -> dict[str, bytes]:
    """Run `program` as party `rank` of three; inputs and returned outputs are serialized shares.

    The wait for peers is bounded: connecting gives up after about connect_retry_times x
    (connect_retry_interval_ms + 1.2 s of brpc resends), and every receive after recv_timeout_ms, so an
    absent peer raises PeerUnavailableError and one that dies mid-run raises PartyError.

    A program with node-noise inputs (`dp_noise/<rank>/<length>`, mpc_compute/dp.py) gets them from the
    parties themselves, after the program agreement: nobody supplies them in `inputs`, and a supplied one
    is refused as unexpected. `dp_noise_seed` makes the draws reproducible: tests only, a node never sets it.

    With `differencing_guard` (mpc_compute/guard.py) the guard program runs after the algorithm's on the
    same link and its outputs are returned instead: the receiver's outputs, gated, and this node's shares
    of the cohort to keep, named keep/<input>. Without it, kept outputs (the cohort) are dropped.
    """
    if not 0 <= rank < WORLD_SIZE:
        raise PartyError(f"rank must be 0..{WORLD_SIZE - 1}, got {rank}")
    program.verify()
    noise = _noise_inputs(rank, program.input_names)
    supplied = set(program.input_names) - {name for name, _ in noise.values()}
    missing = sorted(supplied - set(inputs))
    extra = sorted(set(inputs) - supplied)
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
    cleanup = [*program.input_names, *program.output_names, *program.kept_outputs]
    started = time.monotonic()
    try:
        # the same bound as brpc's own connect retries (see above), spent meeting instead of retrying
        window = rendezvous.link_window_s(connect_retry_times, connect_retry_interval_ms)
        try:
            met = rendezvous.meet(rank, addresses, desc.id, window)
        except rendezvous.RendezvousTimeout as exc:
            raise PeerUnavailableError(
                f"party {rank}: could not connect to the peers {addresses}: {exc}"
            ) from None
        except OSError as exc:  # the link port is taken: brpc would fail on it the same way
            raise PartyError(f"party {rank}: cannot listen on {addresses[rank]}: {exc}") from exc
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
        try:  # the runtime's setup talks to the peers too (it agrees on its random seeds)
            runtime = spu.Runtime(link, config)
            for name in (n for n in program.input_names if n in supplied):
                runtime.set_var(name, spu_runtime.deserialize_share(inputs[name]))
        except Exception as exc:
            raise PeerUnavailableError(
                f"party {rank}: setting up the SPU runtime with the peers failed: {_brief(exc)}"
            ) from exc
        if noise:
            for name, share in _exchange_noise(link, rank, noise, config, dp_noise_seed).items():
                runtime.set_var(name, share)
        loaded = time.monotonic()
        try:
            runtime.run(executable)
        except Exception as exc:
            raise PartyError(
                f"party {rank}: running program {program.program_hash.hex()[:16]} failed: {_brief(exc)}"
            ) from exc
        ran = time.monotonic()
        if differencing_guard is not None:
            guard_program, outputs = _run_guard(link, runtime, rank, program, differencing_guard)
            cleanup += [*guard_program.input_names, *guard_program.output_names]
        else:
            outputs = {n: spu_runtime.serialize_share(runtime.get_var(n)) for n in program.output_names}
        log.info(
            "party %d: link %.2fs (meeting %.2fs), agree + load%s %.2fs, run %.2fs, guard %.2fs (program %s)",
            rank,
            linked - started,
            met,
            " + DP noise" if noise else "",
            loaded - linked,
            ran - loaded,
            time.monotonic() - ran,
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
            for name in cleanup:
                try:
                    runtime.del_var(name)
                except Exception:
                    pass
            del runtime
        # No stop_link(): it messages the peers, and a peer that already left makes brpc abort this
        # process over TLS (SetFailed(0) on an SSL EOF). Dropping the context stops its threads quietly.
        del link
