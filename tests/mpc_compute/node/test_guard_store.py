"""A node's kept cohorts on disk: only sealed shares are filed, and a tampered or misfiled one refuses the
job in the worker before any compute (the attacker: whoever can write the node's disk, or a node replaying
another job's cohort to make the guard compare against the wrong history)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from mpc_compute import spu_runtime
from mpc_compute.envelope import guard_context, public_bytes, seal
from mpc_compute.node import guard_store
from mpc_compute.node.worker import GuardOrder, GuardSegmentOrder, ShareCheckError, WorkOrder, open_guard

MANIFEST = "ab" * 32
ROWS = 16


def order_with(key: X25519PrivateKey, priors: tuple[tuple[int, bytes], ...]) -> WorkOrder:
    segment = GuardSegmentOrder("data_0", MANIFEST, 0, ROWS, 5, priors=priors)
    return WorkOrder(
        job_id=9,
        index=1,
        addresses=[],
        blobs="",
        x25519_private=key.private_bytes_raw(),
        program=None,
        inputs=[],
        receiver_key=b"",
        recv_timeout_ms=1,
        connect_retry_times=1,
        connect_retry_interval_ms=1,
        guard=GuardOrder("cohort", "released", "differencing_refused", (segment,)),
    )


@pytest.fixture
def share() -> bytes:
    return spu_runtime.make_shares((np.arange(ROWS) % 2).astype(np.int32))[1]


def test_a_kept_cohort_opens_only_for_its_node_job_and_dataset(share) -> None:
    key = X25519PrivateKey.generate()
    sealed = seal(share, public_bytes(key), guard_context(MANIFEST, 4, 1))
    plan = open_guard(order_with(key, ((4, sealed),)), held := [])
    assert plan.segments[0].priors[0].share == share and held == [share]

    flipped = bytearray(sealed)
    flipped[-5] ^= 1
    with pytest.raises(ShareCheckError, match="kept cohort of job 4"):
        open_guard(order_with(key, ((4, bytes(flipped)),)), [])
    # another job's cohort filed under job 4: its context names job 3, so it does not open as job 4's
    other = seal(share, public_bytes(key), guard_context(MANIFEST, 3, 1))
    with pytest.raises(ShareCheckError, match="job"):
        open_guard(order_with(key, ((4, other),)), [])
    # another node's cohort (node 2's share) does not open at node 1
    with pytest.raises(ShareCheckError, match="node"):
        open_guard(order_with(key, ((4, seal(share, public_bytes(key), guard_context(MANIFEST, 4, 2))),)), [])


def test_the_store_files_ciphertext_and_ids_and_drops_what_does_not_count(tmp_path, share) -> None:
    store = guard_store.GuardStore(tmp_path)
    key = X25519PrivateKey.generate()
    for job in (1, 2, 3):
        store.put(
            MANIFEST, job, "0xABC" if job != 2 else "0xdef", ROWS, seal(share, public_bytes(key), "x|y")
        )
    files = sorted(p.name for p in (tmp_path / MANIFEST).iterdir())
    assert files == ["1.json", "1.sealed", "2.json", "2.sealed", "3.json", "3.sealed"]
    assert json.loads((tmp_path / MANIFEST / "1.json").read_text()) == {
        "job_id": 1,
        "buyer": "0xabc",
        "rows": ROWS,
    }
    assert share not in (tmp_path / MANIFEST / "1.sealed").read_bytes()

    base = order_with(key, ()).guard
    got = guard_store.with_priors(base, store, 3, "0xabc", ended=lambda job: False)
    assert [j for j, _ in got.segments[0].priors] == [1, 2]  # its own cohort is not its history
    got = guard_store.with_priors(base, store, 3, "0xabc", ended=lambda job: job == 1)
    assert [j for j, _ in got.segments[0].priors] == [2]  # a job that ended without a release
    mine = GuardOrder(
        base.cohort_output,
        base.release_output,
        base.guard_output,
        (GuardSegmentOrder("data_0", MANIFEST, 0, ROWS, 5, "buyer"),),
    )
    got = guard_store.with_priors(mine, store, 3, "0xABC", ended=lambda job: False)
    assert [j for j, _ in got.segments[0].priors] == [1]  # scope buyer: 0xdef's job 2 does not count
    wrong = GuardOrder(
        base.cohort_output,
        base.release_output,
        base.guard_output,
        (GuardSegmentOrder("data_0", MANIFEST, 0, ROWS + 1, 5),),
    )
    with pytest.raises(guard_store.GuardStateError, match="has 16 rows"):
        guard_store.with_priors(wrong, store, 3, None, ended=lambda job: False)
