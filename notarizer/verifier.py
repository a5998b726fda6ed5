"""The regulator's verifier: checks an exported log against the chain alone and names what is wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from notarizer.chainview import JOB_EVENTS, ChainCheckpoint, ChainEvent, ChainView
from notarizer.entry import InvalidEntry, Kind, LogEntry, payload_digest
from notarizer.proofs import MemoryTree, leaf_hash, verify_consistency

# Candidate positions searched for a displaced entry beyond its neighbours (bounded so a log rewritten
# wholesale costs O(n * this), not O(n^2)).
_MAX_SEARCH = 256
_HEX = re.compile(r"0x[0-9a-fA-F]*")


INTEGRITY = "integrity"
VIOLATION = "violation"


@dataclass(frozen=True)
class Finding:
    """One problem. `problem` is one of: changed, argument-mismatch, dropped, inserted, reordered,
    forked-root, root-mismatch, truncated, missing-entry, phantom-reference, malformed, unanchored,
    checkpoint-note (all of category "integrity": the log does not match the chain), or violation
    (category "violation": the log is faithful but a job broke its listing's policy)."""

    problem: str
    detail: str
    seq: int | None = None
    checkpoint: int | None = None
    severity: str = "error"
    category: str = INTEGRITY


# Given every job event the chain holds, grouped by job id (chain order), the compliance findings.
ComplianceCheck = Callable[[dict[int, list[ChainEvent]]], list[Finding]]


def check_compliance(jobs: dict[int, list[ChainEvent]]) -> list[Finding]:
    """The compliance check: findings of category "violation" (problem "violation") for each job that
    broke its listing's policy. Only the chain's own events reach it, never a log entry's word.

    No policy is enforced here yet: this is the place for it (pass another `ComplianceCheck` to
    `verify` / `verify_entries` meanwhile)."""
    return []


@dataclass
class VerificationReport:
    entries: int
    checkpoints: int
    anchored_size: int
    chain_events: int | None
    findings: list[Finding] = field(default_factory=list)
    # entry seq -> the chain event it records, for entries whose event, job and every recorded
    # argument match the chain: the only arguments a usage report may be built from.
    checked: dict[int, ChainEvent] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.errors if f.category == VIOLATION]

    @property
    def integrity_ok(self) -> bool:
        """Whether the log matches the chain (policy violations aside)."""
        return not any(f.category == INTEGRITY for f in self.errors)

    def checked_args(self) -> dict[int, dict[str, Any]]:
        """Entry seq -> the chain-checked event {"event", "args"} (args as logged): for notarizer.usage."""
        return {seq: {"event": ev.event, "args": ev.logged_args()} for seq, ev in self.checked.items()}

    def errors_of(self, problem: str) -> list[Finding]:
        return [f for f in self.errors if f.problem == problem]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "anchored_size": self.anchored_size,
            "chain_events": self.chain_events,
            "checked_events": len(self.checked),
            "violations": len(self.violations),
            "findings": [asdict(f) for f in self.findings],
        }


def _leaf_at(e: LogEntry, seq: int) -> bytes:
    return leaf_hash(LogEntry(seq, e.time_us, e.actor, e.kind, e.subjects, e.payload_hash).leaf_bytes())


def _parse(entries: Iterable[LogEntry | dict[str, Any]], findings: list[Finding]) -> list[LogEntry]:
    out = []
    for line, raw in enumerate(entries, 1):
        try:
            out.append(raw if isinstance(raw, LogEntry) else LogEntry.from_json(raw))
        except InvalidEntry as exc:
            findings.append(Finding("malformed", f"entry #{line} cannot be read: {exc}"))
    return out


def _order(entries: list[LogEntry], findings: list[Finding]) -> dict[int, LogEntry]:
    by_seq: dict[int, LogEntry] = {}
    highest = -1
    for pos, e in enumerate(entries, 1):
        if e.seq < highest:
            findings.append(
                Finding("reordered", f"entry #{pos} has seq {e.seq} but follows seq {highest}", e.seq)
            )
        highest = max(highest, e.seq)
        if e.seq in by_seq:
            findings.append(
                Finding("inserted", f"two entries claim seq {e.seq}; the second is not in the log", e.seq)
            )
            continue
        by_seq[e.seq] = e
    for seq in range(highest + 1):
        if seq not in by_seq:
            findings.append(Finding("dropped", f"there is no entry with seq {seq}", seq))
    for seq, e in by_seq.items():
        if e.payload is not None and payload_digest(e.payload) != e.payload_hash:
            findings.append(
                Finding(
                    "changed",
                    f"entry seq {seq}: its payload does not hash to its payload_hash {e.payload_hash[:16]}…",
                    seq,
                )
            )
    return by_seq


def _displacements(
    by_seq: dict[int, LogEntry], leaves: dict[int, bytes], recorded: dict[int, bytes], findings: list[Finding]
) -> None:
    """Compare each entry with the leaf hash recorded for its position and explain every mismatch."""
    mismatch = sorted(k for k in by_seq if k in recorded and leaves[k] != recorded[k])
    if not mismatch:
        return
    wide = mismatch[:_MAX_SEARCH]
    last = max(by_seq)
    moved: dict[int, int] = {}
    for k in mismatch:
        e = by_seq[k]
        for j in (k + 1, k - 1, *wide):
            if j != k and j in recorded and _leaf_at(e, j) == recorded[j]:
                moved[k] = j
                break
        else:
            # The last entry of a run renumbered downwards has no recorded leaf to match in the export.
            if k == last and moved.get(k - 1) == k and k + 1 not in recorded:
                moved[k] = k + 1
    for k in mismatch:
        j = moved.get(k)
        if j is None:
            if moved.get(k + 1) == k:
                run = sum(1 for x in moved.items() if x[1] == x[0] - 1)
                findings.append(
                    Finding(
                        "inserted",
                        f"entry seq {k} is not the entry the log recorded there; the "
                        f"{run} entries after it are the log's entries renumbered +1",
                        k,
                    )
                )
            else:
                findings.append(
                    Finding(
                        "changed",
                        f"entry seq {k} differs from the entry the log recorded (its "
                        "leaf hash does not match)",
                        k,
                    )
                )
        elif moved.get(j) == k:
            if k < j:
                findings.append(Finding("reordered", f"entries seq {k} and seq {j} were swapped", k))
        elif j == k + 1:
            if moved.get(k - 1) != k:
                run = sum(1 for x in moved.items() if x[1] == x[0] + 1)
                findings.append(
                    Finding(
                        "dropped",
                        f"the entry the log recorded at seq {k} is missing; the {run} "
                        "entries after it were renumbered -1",
                        k,
                    )
                )
        elif j != k - 1:
            findings.append(
                Finding("reordered", f"the entry at seq {k} is the one the log recorded at seq {j}", k)
            )


def _checkpoints(
    leaves: dict[int, bytes],
    cps: list[ChainCheckpoint],
    findings: list[Finding],
    entry_findings: bool,
    recorded_all: bool,
) -> None:
    contiguous = 0
    while contiguous in leaves:
        contiguous += 1
    tree = MemoryTree(leaves[k] for k in range(contiguous))
    previous: ChainCheckpoint | None = None
    previous_ok = True
    for cp in cps:
        if previous is not None and cp.tree_size <= previous.tree_size:
            findings.append(
                Finding(
                    "forked-root",
                    f"checkpoint {cp.index} has size {cp.tree_size}, not larger "
                    f"than checkpoint {previous.index}'s {previous.tree_size}",
                    checkpoint=cp.index,
                )
            )
        if cp.tree_size > contiguous:
            findings.append(
                Finding(
                    "truncated",
                    f"checkpoint {cp.index} covers {cp.tree_size} entries but the "
                    f"export holds only {contiguous} consecutive entries from seq 0",
                    checkpoint=cp.index,
                )
            )
            previous, previous_ok = cp, False
            continue
        ours = tree.root(cp.tree_size)
        if ours != cp.root:
            if entry_findings:
                findings.append(
                    Finding(
                        "root-mismatch",
                        f"checkpoint {cp.index} (size {cp.tree_size}) does not "
                        "match the exported entries; see the entry findings",
                        checkpoint=cp.index,
                    )
                )
            else:
                first = previous.tree_size if previous is not None and previous_ok else 0
                findings.append(
                    Finding(
                        "forked-root",
                        f"checkpoint {cp.index} anchors root {cp.root.hex()} for "
                        f"size {cp.tree_size}, but the log's root at that size is {ours.hex()}: the "
                        "chain anchors a tree that is not this log"
                        + (
                            ""
                            if recorded_all
                            else f", or an entry in seq [{first}, {cp.tree_size}) was changed "
                            "(the export has no recorded leaf hashes to tell which)"
                        ),
                        checkpoint=cp.index,
                    )
                )
        elif previous is not None and previous_ok and previous.tree_size < cp.tree_size:
            proof = tree.consistency_proof(previous.tree_size, cp.tree_size)
            if not verify_consistency(previous.tree_size, cp.tree_size, previous.root, cp.root, proof):
                findings.append(
                    Finding(
                        "forked-root",
                        f"checkpoint {cp.index} does not extend checkpoint {previous.index}",
                        checkpoint=cp.index,
                    )
                )
        previous, previous_ok = cp, ours == cp.root


def _checkpoint_notes(
    by_seq: dict[int, LogEntry], cps: list[ChainCheckpoint], findings: list[Finding]
) -> None:
    by_index = {c.index: c for c in cps}
    for seq, e in by_seq.items():
        if e.kind != Kind.CHECKPOINT_ANCHORED or not isinstance(e.payload, dict):
            continue
        cp = by_index.get(int(e.payload.get("index", -1)))
        if cp is None or (cp.tree_size, cp.root.hex()) != (e.payload.get("tree_size"), e.payload.get("root")):
            findings.append(
                Finding(
                    "checkpoint-note",
                    f"entry seq {seq} records checkpoint {e.payload.get('index')} "
                    "which the chain does not hold as recorded (node state lost and re-anchored?)",
                    seq,
                    severity="warning",
                )
            )


def chain_reference(payload: Any) -> dict[str, Any] | None:
    """The chain event a payload cites: {"event", "tx_hash", "log_index"} under "chain_event" (see
    notarizer.entry.chain_event_ref) or, as the exchange's indexer writes them, at the payload's top level."""
    if not isinstance(payload, dict):
        return None
    ref = payload.get("chain_event") if isinstance(payload.get("chain_event"), dict) else payload
    if all(k in ref for k in ("event", "tx_hash", "log_index")):
        try:
            int(ref["log_index"])
        except (TypeError, ValueError):
            return None
        return ref
    return None


def _differences(path: str, chain: Any, logged: Any) -> list[str]:
    """Where `logged` (an entry's recorded arguments) differs from `chain` (the event's, as logged)."""
    if isinstance(chain, dict) and isinstance(logged, dict):
        out = []
        for key in chain:
            where = f"{path}.{key}" if path else key
            if key not in logged:
                out.append(f"{where} is missing (the chain has {_show(chain[key])})")
            else:
                out.extend(_differences(where, chain[key], logged[key]))
        out.extend(
            f"{path + '.' if path else ''}{key} is not an argument of the event (the entry has "
            f"{_show(logged[key])})"
            for key in logged
            if key not in chain
        )
        return out
    if _same(chain, logged):
        return []
    return [f"{path}: the entry has {_show(logged)}, the chain has {_show(chain)}"]


def _same(chain: Any, logged: Any) -> bool:
    if isinstance(chain, list) and isinstance(logged, list):
        return len(chain) == len(logged) and all(_same(c, v) for c, v in zip(chain, logged, strict=True))
    if isinstance(chain, str) and isinstance(logged, str) and _HEX.fullmatch(chain):
        return chain.lower() == logged.lower()  # an address or hex in another letter case is the same value
    return type(chain) is type(logged) and chain == logged


def _show(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _argument_findings(seq: int, payload: dict[str, Any], ev: ChainEvent) -> list[Finding]:
    """Every recorded argument of entry `seq` compared with the chain event: an entry may cite an event
    without recording arguments (then only the chain's are used), but what it records must be exact."""
    found = []
    where = f"entry seq {seq} ({ev.event} of tx {ev.tx_hash} log {ev.log_index})"
    if "args" in payload:
        logged = payload["args"]
        if not isinstance(logged, dict):
            diffs = [f"args: the entry has {_show(logged)}, not an object of arguments"]
        else:
            diffs = _differences("", ev.logged_args(), logged)
        found += [Finding("argument-mismatch", f"{where}: argument {d}", seq) for d in diffs]
    for key, chain_value in (("block", ev.block_number), ("contract", ev.contract)):
        if key in payload and payload[key] != chain_value:
            found.append(
                Finding(
                    "argument-mismatch",
                    f"{where}: {key}: the entry has {_show(payload[key])}, "
                    f"the chain has {_show(chain_value)}",
                    seq,
                )
            )
    return found


def _chain_events(
    by_seq: dict[int, LogEntry],
    events: list[ChainEvent],
    findings: list[Finding],
    log_exists: Callable[[str, int], bool] | None,
) -> dict[int, ChainEvent]:
    """Match chain events and the entries citing them both ways; returns the entries checked in full."""
    refs: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
    for seq, e in by_seq.items():
        ref = chain_reference(e.payload)
        if ref is not None:
            refs[(str(ref["tx_hash"]).lower(), int(ref["log_index"]))] = (seq, ref)
    seen = set()
    checked: dict[int, ChainEvent] = {}
    for ev in events:
        key = (ev.tx_hash.lower(), ev.log_index)
        job = ev.args.get("jobId")
        if key not in refs:
            findings.append(
                Finding(
                    "missing-entry",
                    f"chain event {ev.event} of job {job} (tx {ev.tx_hash}, log "
                    f"{ev.log_index}, block {ev.block_number}) has no log entry",
                )
            )
            continue
        seen.add(key)
        seq, ref = refs[key]
        if ref.get("event") != ev.event:
            findings.append(
                Finding(
                    "changed",
                    f"entry seq {seq} says chain event {ref.get('event')} but the chain "
                    f"has {ev.event} at tx {ev.tx_hash} log {ev.log_index}",
                    seq,
                )
            )
            continue
        if job is not None and f"job:{job}" not in by_seq[seq].subjects:
            findings.append(
                Finding(
                    "changed",
                    f"entry seq {seq} records {ev.event} of job {job} but does not name job:{job}",
                    seq,
                )
            )
            continue
        wrong = _argument_findings(seq, by_seq[seq].payload, ev)
        findings.extend(wrong)
        if not wrong:
            checked[seq] = ev
    for key, (seq, ref) in refs.items():
        if key in seen:
            continue
        if ref.get("event") in JOB_EVENTS or (log_exists is not None and not log_exists(*key)):
            findings.append(
                Finding(
                    "phantom-reference",
                    f"entry seq {seq} references chain event "
                    f"{ref.get('event')} at tx {key[0]} log {key[1]}, which the chain does not "
                    "have",
                    seq,
                )
            )
    return checked


def _by_job(events: list[ChainEvent]) -> dict[int, list[ChainEvent]]:
    jobs: dict[int, list[ChainEvent]] = {}
    for ev in events:
        if ev.args.get("jobId") is not None:
            jobs.setdefault(int(ev.args["jobId"]), []).append(ev)
    return jobs


def verify_entries(
    entries: Iterable[LogEntry | dict[str, Any]],
    checkpoints: list[ChainCheckpoint],
    chain_events: list[ChainEvent] | None = None,
    log_exists: Callable[[str, int], bool] | None = None,
    compliance: ComplianceCheck = check_compliance,
) -> VerificationReport:
    """Verify exported entries against checkpoints (and job events) already read from the chain; with
    job events, also run `compliance` on them (its findings are of category "violation")."""
    findings: list[Finding] = []
    parsed = _parse(entries, findings)
    by_seq = _order(parsed, findings)
    recorded = {k: e.leaf_hash for k, e in by_seq.items() if e.leaf_hash}
    leaves = {k: _leaf_at(e, k) for k, e in by_seq.items()}
    _displacements(by_seq, leaves, recorded, findings)
    entry_findings = any(f.seq is not None for f in findings)
    _checkpoints(leaves, checkpoints, findings, entry_findings, len(recorded) == len(by_seq))
    _checkpoint_notes(by_seq, checkpoints, findings)
    checked: dict[int, ChainEvent] = {}
    if chain_events is not None:
        checked = _chain_events(by_seq, chain_events, findings, log_exists)
        findings.extend(
            f if f.category == VIOLATION else replace(f, category=VIOLATION)
            for f in compliance(_by_job(chain_events))
        )
    anchored = checkpoints[-1].tree_size if checkpoints else 0
    size = max(by_seq) + 1 if by_seq else 0
    if size > anchored:
        findings.append(
            Finding(
                "unanchored",
                f"entries seq {anchored}..{size - 1} are not covered by an on-chain checkpoint yet",
                severity="warning",
            )
        )
    findings.sort(
        key=lambda f: (
            f.severity != "error",
            f.seq is None,
            f.seq or 0,
            f.checkpoint or 0,
        )
    )
    return VerificationReport(
        len(parsed),
        len(checkpoints),
        anchored,
        None if chain_events is None else len(chain_events),
        findings,
        checked,
    )


def verify(
    rpc_url: str,
    notary_address: str,
    entries: Iterable[LogEntry | dict[str, Any]],
    jobs_address: str | None = None,
    from_block: int = 0,
    compliance: ComplianceCheck = check_compliance,
) -> VerificationReport:
    """Verify an exported log trusting only the chain at `rpc_url` and the Notary at `notary_address`.

    With `jobs_address` (the ComputeJobs contract), every job event on the chain must have its log entry
    (payload "chain_event": {"event", "tx_hash", "log_index"}) and every such reference a chain event,
    every argument an entry records must equal the event's, and `compliance` checks the jobs.
    """
    view = ChainView(rpc_url, notary_address)
    events = view.events(jobs_address, from_block=from_block) if jobs_address else None
    return verify_entries(
        entries, view.checkpoints(), events, view.log_exists if jobs_address else None, compliance
    )
