"""The job worker: a child process that opens a node's sealed shares, runs its SPU party, seals the output.

Everything that ever holds plaintext (decrypted input shares, the SPU runtime and its intermediates,
the output share before sealing) lives only in this process. It is started per job attempt, forked
from the node's forkserver (a clean interpreter that only imported SPU and JAX: nothing of the node
service or of earlier jobs is inherited), gets the node's X25519 key through a pipe,
and exits when the job ends; before exiting it overwrites the buffers it still references. Its
process exit is what finally destroys the plaintext: the node service never sees any.

Order of checks: every bundle is fetched (its CID checked by the blob source), opened with the
envelope context (kind, manifest label, this node's index) and its plaintext share hashed against
the manifest, for every input, before `run_party` is called: a tampered, misplaced or wrong-listing
bundle refuses the job before any compute.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mpc_compute.blob_source import open_blob_source
from mpc_compute.envelope import (
    EnvelopeError,
    guard_context,
    open_bundle,
    pack_outputs,
    public_bytes,
    result_context,
    seal,
    share_context,
)

# spu (and mpc_compute.spu_runtime / party, which load it) are imported inside functions: they take
# seconds to load, and the node service imports this module for its types without running a worker.

_BYTES_HEADER = sys.getsizeof(b"") - 1


class ShareCheckError(Exception):
    """A sealed input share failed to open or did not match its manifest: the job is refused."""


@dataclass(frozen=True)
class InputPlan:
    """How to build one program input from a manifest's chunks for this node."""

    name: str
    kind: str
    label: str
    manifest_hash: str
    array: str
    chunks: list[tuple[str, str]]  # (bundle cid, plaintext share sha256) in row order
    columns: list[int] | None
    ndim: int


@dataclass(frozen=True)
class GuardSegmentOrder:
    """One dataset's rows in the cohort, its k, and this node's sealed kept cohorts of earlier jobs."""

    input_name: str
    manifest_hash: str
    offset: int
    rows: int
    k: int
    scope: str = "any"  # the dataset policy's difference_scope: whose earlier cohorts count
    priors: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)  # (job id, sealed share)


@dataclass(frozen=True)
class GuardOrder:
    """The differencing guard to run after the program (mpc_compute/guard.py)."""

    cohort_output: str
    release_output: str
    guard_output: str
    segments: tuple[GuardSegmentOrder, ...]
    program: object | None = None  # its CompiledProgram, compiled by the service


@dataclass(frozen=True)
class WorkOrder:
    job_id: int
    index: int
    addresses: list[str]
    blobs: str
    x25519_private: bytes = field(repr=False)
    program: object  # mpc_compute.algorithms.CompiledProgram
    inputs: list[InputPlan]
    receiver_key: bytes
    recv_timeout_ms: int
    connect_retry_times: int
    connect_retry_interval_ms: int
    tls: object | None = None
    guard: GuardOrder | None = None


def wipe(buf: bytes | bytearray | None) -> None:
    """Overwrite a buffer's contents in place (CPython bytes included) so freed memory holds no plaintext."""
    if buf is None or len(buf) < 2:
        return
    if isinstance(buf, bytearray):
        buf[:] = bytes(len(buf))
    else:
        ctypes.memset(id(buf) + _BYTES_HEADER, 0, len(buf))


def select_columns(share: bytes, columns: list[int]) -> bytes:
    """One party's share of x[:, columns]: replicated sharing is element-wise, so columns slice locally."""
    from spu import libspu

    from mpc_compute import spu_runtime

    parsed = spu_runtime.parse_share(share)
    meta = parsed.value_meta()
    rows, cols = (int(d) for d in meta.shape.dims)
    content = parsed.content()
    word = len(content) // (rows * cols) if rows * cols else 0
    picked = np.frombuffer(content, dtype=np.uint8).reshape(rows, cols, word)[:, columns, :]
    meta.shape.dims = [rows, len(columns)]
    chunk = libspu.ValueChunk()
    chunk.total_bytes, chunk.chunk_offset, chunk.content = picked.nbytes, 0, picked.tobytes()
    return spu_runtime.serialize_share(
        spu_runtime.ParsedShare(meta.SerializeToString(), (chunk.SerializeToString(),))
    )


def open_inputs(order: WorkOrder, held: list) -> dict[str, bytes]:
    """Fetch, open and check every input share of this node; raises ShareCheckError naming the bad one."""
    from mpc_compute import spu_runtime

    key = X25519PrivateKey.from_private_bytes(order.x25519_private)
    store = open_blob_source(order.blobs)
    inputs: dict[str, bytes] = {}
    for plan in order.inputs:
        context = share_context(plan.kind, plan.label, order.index)
        parts = []
        for k, (cid, expected) in enumerate(plan.chunks):
            where = (
                f"input {plan.name!r} (manifest {plan.manifest_hash[:16]}..., array {plan.array}, chunk {k})"
            )
            try:
                bundle = store.get(cid)
            except Exception as exc:
                raise ShareCheckError(f"{where}: bundle {cid} could not be fetched: {exc}") from None
            try:
                share = open_bundle(bundle, key, context)
            except EnvelopeError as exc:
                raise ShareCheckError(f"{where}: sealed bundle refused: {exc}") from None
            held.append(share)
            got = hashlib.sha256(share).hexdigest()
            if got != expected:
                raise ShareCheckError(
                    f"{where}: plaintext share hashes to {got[:16]}..., manifest says {expected[:16]}..."
                )
            parts.append(share)
        whole = spu_runtime.join_row_blocks(parts) if plan.ndim >= 1 else parts[0]
        held.append(whole)
        if plan.columns is not None:
            whole = select_columns(whole, plan.columns)
            held.append(whole)
        inputs[plan.name] = whole
    return inputs


def open_guard(order: WorkOrder, held: list):
    """The guard plan with this node's kept shares of the earlier cohorts opened; refuses a bad one."""
    from mpc_compute import guard

    key = X25519PrivateKey.from_private_bytes(order.x25519_private)
    segments = []
    for seg in order.guard.segments:
        priors = []
        for job_id, sealed in seg.priors:
            try:
                share = open_bundle(sealed, key, guard_context(seg.manifest_hash, job_id, order.index))
            except EnvelopeError as exc:
                raise ShareCheckError(
                    f"kept cohort of job {job_id} for input {seg.input_name!r} refused: {exc}"
                ) from None
            held.append(share)
            priors.append(guard.Prior(job_id, share))
        segments.append(guard.Segment(seg.input_name, seg.offset, seg.rows, seg.k, tuple(priors)))
    g = order.guard
    return guard.GuardPlan(g.cohort_output, g.release_output, g.guard_output, tuple(segments), g.program)


def seal_kept(order: WorkOrder, outputs: dict[str, bytes]) -> dict[str, bytes]:
    """Take this node's kept cohort shares out of the outputs and seal each to the node's own key."""
    from mpc_compute import guard

    me = public_bytes(X25519PrivateKey.from_private_bytes(order.x25519_private).public_key())
    return {
        seg.input_name: seal(
            outputs.pop(guard.kept_name(seg.input_name)),
            me,
            guard_context(seg.manifest_hash, order.job_id, order.index),
        )
        for seg in order.guard.segments
    }


def pack_and_seal(order: WorkOrder, outputs: dict[str, bytes], held: list) -> bytes:
    packed = pack_outputs(outputs)
    held.append(packed)
    return seal(packed, order.receiver_key, result_context(order.job_id, order.index))


def execute(order: WorkOrder, notify=lambda stage, at: None) -> dict:
    """Run one attempt; returns a result dict (never raises: errors are reported as data).

    `notify(stage, time)` is called as each stage ends, so the node's job status is live.
    """
    from mpc_compute.party import run_party

    held: list = []
    report: dict = {"ok": False}

    def stage(name: str) -> None:
        notify(name, time.time())

    try:
        inputs = open_inputs(order, held)
        plan = open_guard(order, held) if order.guard is not None else None
        stage("shares_verified")
        outputs = run_party(
            order.index,
            order.addresses,
            order.program,
            inputs,
            tls=order.tls,
            recv_timeout_ms=order.recv_timeout_ms,
            connect_retry_times=order.connect_retry_times,
            connect_retry_interval_ms=order.connect_retry_interval_ms,
            link_id=f"dx-job-{order.job_id}",
            differencing_guard=plan,
        )
        held.extend(outputs.values())
        stage("computed")
        kept = seal_kept(order, outputs) if plan is not None else {}
        sealed = pack_and_seal(order, outputs, held)
        stage("output_sealed")
        # only ciphertext leaves the worker: the node stores it under its own blob-store identity
        report.update(
            ok=True,
            sealed_output=sealed,
            output_share_hash=hashlib.sha256(sealed).hexdigest(),
            guard_kept=kept,
        )
    except ShareCheckError as exc:
        report.update(error=str(exc), kind="refused")
    except Exception as exc:
        report.update(
            error=f"{type(exc).__name__}: {exc}", kind="failed", trace=traceback.format_exc(limit=4)
        )
    finally:
        report["destroyed"] = {
            "buffers_overwritten": len(held),
            "bytes_overwritten": sum(len(b) for b in held if isinstance(b, bytes | bytearray)),
        }
        for buf in held:
            wipe(buf)
        held.clear()
        stage("destroyed")
    return report


def worker_main(conn) -> None:
    """Entry point of the worker process: read one WorkOrder from the pipe, send back the report."""
    order = conn.recv()
    # into the node's log (the forkserver's stderr is the node's): the party's phase timings, never data
    logging.basicConfig(
        level=logging.INFO,
        format=f"node{order.index} worker {order.job_id} %(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        conn.send(("report", execute(order, lambda name, at: conn.send(("stage", name, at)))))
    finally:
        wipe(order.x25519_private)
        conn.close()
