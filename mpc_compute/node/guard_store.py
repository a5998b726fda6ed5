"""A node's kept cohorts for the differencing guard (sealed shares, one file per job and dataset) and the
guard each job's worker runs with them.

Layout under <work_dir>/guard/<manifest hash>/: `<job id>.sealed`, this node's share of the job's kept
cohort bits sealed to the node's own X25519 key (envelope context `guard_context`), and `<job id>.json`,
{job_id, buyer, rows}. Only ciphertext of shares is on disk; the worker opens them, never the service.
The JSON is written last (aside, then renamed): an entry without it does not exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mpc_compute.node.worker import GuardOrder, GuardSegmentOrder

_HASH = re.compile(r"[0-9a-f]{64}")


class GuardStateError(Exception):
    """This node's kept cohorts do not fit the job (a dataset with other rows under the same manifest)."""


@dataclass(frozen=True)
class KeptCohort:
    job_id: int
    buyer: str | None
    rows: int
    path: Path


class GuardStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, manifest_hash: str) -> Path:
        if not _HASH.fullmatch(manifest_hash):
            raise ValueError(f"not a manifest hash: {manifest_hash!r}")
        return self.root / manifest_hash

    def entries(self, manifest_hash: str) -> list[KeptCohort]:
        """The kept cohorts of one dataset manifest, in job order."""
        folder = self._dir(manifest_hash)
        found = []
        for meta in folder.glob("*.json") if folder.is_dir() else ():
            doc = json.loads(meta.read_text())
            found.append(
                KeptCohort(
                    int(doc["job_id"]), doc.get("buyer"), int(doc["rows"]), meta.with_suffix(".sealed")
                )
            )
        return sorted(found, key=lambda e: e.job_id)

    def put(self, manifest_hash: str, job_id: int, buyer: str | None, rows: int, sealed: bytes) -> None:
        folder = self._dir(manifest_hash)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{job_id}.sealed").write_bytes(sealed)
        tmp = folder / f"{job_id}.json.tmp"
        tmp.write_text(json.dumps({"job_id": job_id, "buyer": buyer and buyer.lower(), "rows": rows}))
        tmp.replace(folder / f"{job_id}.json")


def guard_order(spec, manifests: dict, program, listings: dict | None) -> GuardOrder | None:
    """The guard a job's program needs (None: its algorithm keeps no cohort), without the priors yet.

    k and the scope are each dataset's policy, as the chain binds it; without a chain (`listings` None),
    k is the job's own floor parameter and the scope `any`.
    """
    from mpc_compute.algorithms import ALGORITHMS

    algorithm = ALGORITHMS[spec.algorithm]
    if algorithm.cohort_output is None:
        return None
    floor = int(spec.params.get(algorithm.group_floor_param, 0) or 0) if algorithm.group_floor_param else 0
    by_name = {i.name: i for i in spec.inputs}
    segments, offset = [], 0
    for name in program.input_names:
        job_input = by_name.get(name)
        if job_input is None:  # inputs the nodes make (DP noise)
            continue
        rows = int(manifests[job_input.manifest_hash].array(job_input.array).shape[0])
        facts = listings.get(job_input.listing_id) if listings is not None else None
        policy = facts.policy if facts is not None else None
        segments.append(
            GuardSegmentOrder(
                name,
                job_input.manifest_hash,
                offset,
                rows,
                policy.min_group_size if policy else floor,
                policy.difference_scope if policy else "any",
            )
        )
        offset += rows
    return GuardOrder(
        algorithm.cohort_output, algorithm.release_output, algorithm.guard_output, tuple(segments)
    )


def with_priors(
    guard: GuardOrder, store: GuardStore, job_id: int, buyer: str | None, ended: Callable[[int], bool]
) -> GuardOrder:
    """The guard with this node's kept cohorts of each dataset attached: every earlier job in scope,
    except those the chain says ended without a release (`ended`). Raises GuardStateError on a kept
    cohort that does not fit the dataset."""
    segments = []
    for seg in guard.segments:
        priors = []
        for entry in store.entries(seg.manifest_hash):
            if entry.job_id == job_id:
                continue
            if seg.scope == "buyer" and (buyer is None or entry.buyer != buyer.lower()):
                continue
            if entry.rows != seg.rows:
                raise GuardStateError(
                    f"the kept cohort of job {entry.job_id} has {entry.rows} rows, {seg.input_name!r} has "
                    f"{seg.rows}"
                )
            if ended(entry.job_id):
                continue
            priors.append((entry.job_id, entry.path.read_bytes()))
        segments.append(replace(seg, priors=tuple(priors)))
    return replace(guard, segments=tuple(segments))


def compiled(guard: GuardOrder, program) -> GuardOrder:
    """The guard with its SPU program compiled here, from the structure alone (no share is read)."""
    from mpc_compute import guard as differencing

    plan = differencing.GuardPlan(
        guard.cohort_output,
        guard.release_output,
        guard.guard_output,
        tuple(
            differencing.Segment(
                s.input_name, s.offset, s.rows, s.k, tuple(differencing.Prior(j, b"") for j, _ in s.priors)
            )
            for s in guard.segments
        ),
    )
    return replace(guard, program=differencing.compile_guard(program, plan))


def keep(
    guard: GuardOrder, store: GuardStore, job_id: int, buyer: str | None, sealed: dict[str, bytes]
) -> None:
    """File this node's sealed kept cohort shares of a job, one per dataset segment."""
    for seg in guard.segments:
        store.put(seg.manifest_hash, job_id, buyer, seg.rows, sealed[seg.input_name])
