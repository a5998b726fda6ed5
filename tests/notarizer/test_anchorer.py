"""The anchorer on a real Anvil node: triggers, reconciliation, forks, restarts of node and anchorer."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine

from contracts import Ledger, deploy, web3_at
from ganache.launcher import LocalChain
from notarizer.anchorer import Anchorer, AnchorError, ForkDetected
from notarizer.entry import Kind
from notarizer.log import NewEntry, TransparencyLog
from notarizer.proofs import MemoryTree, leaf_hash

pytestmark = [pytest.mark.chain, pytest.mark.database]


def fill(log: TransparencyLog, n: int, tag: str = "x") -> None:
    log.append_many([NewEntry("api.request", "system", [], {"tag": tag, "i": i}) for i in range(n)])


def onchain(ledger: Ledger) -> list[tuple[int, bytes]]:
    n = ledger.notary.checkpoint_count()
    return [(c.tree_size, c.root) for c in (ledger.notary.checkpoint(i) for i in range(n))]


def test_anchors_after_n_entries_and_records_the_checkpoint(tlog, fresh_chain, operator) -> None:
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=10, every_seconds=3600)
    fill(tlog, 9)
    assert anchorer.run_once() is None and fresh_chain.notary.checkpoint_count() == 0
    fill(tlog, 1)
    cp = anchorer.run_once()
    assert cp is not None and (cp.idx, cp.tree_size, cp.root) == (0, 10, tlog.root(10))
    assert onchain(fresh_chain) == [(10, tlog.root(10))]
    assert tlog.checkpoints() == [cp] and cp.tx_hash and cp.block_number
    note = tlog.entry(10)
    assert note.kind == Kind.CHECKPOINT_ANCHORED and note.payload["tx_hash"] == cp.tx_hash
    # Its own checkpoint.anchored entry does not make another checkpoint due.
    assert anchorer.run_once() is None
    fill(tlog, 10)
    cp2 = anchorer.run_once()
    assert (cp2.idx, cp2.tree_size) == (1, 21) and onchain(fresh_chain)[1] == (21, tlog.root(21))


def test_time_trigger_anchors_a_few_entries_after_every_seconds(tlog, fresh_chain, operator) -> None:
    now = [0.0]
    anchorer = Anchorer(
        tlog, fresh_chain, operator, every_entries=1000, every_seconds=30, clock=lambda: now[0]
    )
    fill(tlog, 3)
    now[0] = tlog.entry(0).time_us / 1e6 + 29
    assert anchorer.run_once() is None
    now[0] += 2
    assert anchorer.run_once().tree_size == 3


def test_restarted_anchorer_records_a_checkpoint_that_landed_unrecorded(tlog, fresh_chain, operator) -> None:
    fill(tlog, 5)
    # As if the anchorer crashed after its transaction was mined but before it wrote the record.
    tx = fresh_chain.notary.anchor(operator, 5, tlog.root(5))
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=5, every_seconds=3600)
    assert anchorer.run_once() is None
    [cp] = tlog.checkpoints()
    assert (cp.idx, cp.tree_size, cp.tx_hash, cp.block_number) == (0, 5, tx.tx_hash, tx.block_number)
    fill(tlog, 5)
    assert anchorer.run_once().idx == 1 and fresh_chain.notary.checkpoint_count() == 2


def test_forked_chain_checkpoint_stops_the_anchorer_loudly(tlog, fresh_chain, operator) -> None:
    fill(tlog, 6)
    other = MemoryTree(leaf_hash(b"other %d" % i) for i in range(4))
    fresh_chain.notary.anchor(operator, 4, other.root())
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=1, every_seconds=0)
    with pytest.raises(ForkDetected, match=r"checkpoint 0 has root .* log and the chain have forked"):
        anchorer.run_once()
    stop = threading.Event()
    with pytest.raises(ForkDetected):
        anchorer.run_forever(stop, poll_seconds=0.01)


def test_chain_checkpoint_beyond_the_log_means_lost_entries(tlog, fresh_chain, operator) -> None:
    fill(tlog, 6)
    fresh_chain.notary.anchor(operator, 50, leaf_hash(b"whatever"))
    with pytest.raises(ForkDetected, match="covers 50 entries but the log holds only 6"):
        Anchorer(tlog, fresh_chain, operator, every_entries=1, every_seconds=0).run_once()


def test_run_forever_anchors_until_stopped(tlog, fresh_chain, operator) -> None:
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=4, every_seconds=3600)
    fill(tlog, 8)
    stop = threading.Event()
    worker = threading.Thread(target=anchorer.run_forever, args=(stop, 0.05))
    worker.start()
    try:
        for _ in range(400):
            if tlog.checkpoints():
                break
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert [c.tree_size for c in tlog.checkpoints()] == [8]


def test_survives_a_restart_of_the_chain_node_with_persisted_state(tlog, operator, tmp_path) -> None:
    node = LocalChain.start("anvil", state_dir=tmp_path / "chain", state_interval=1)
    try:
        w3 = web3_at(node.rpc_url, timeout=10)
        ledger = Ledger(w3, deploy(w3, operator))
        anchorer = Anchorer(
            tlog, ledger, operator, every_entries=3, every_seconds=3600, max_attempts=2, backoff_seconds=0.05
        )
        fill(tlog, 3, "a")
        assert anchorer.run_once().idx == 0
        port = node.port
        node.stop()  # SIGINT: Anvil writes its state file
        fill(tlog, 3, "b")  # appends never wait for the chain
        with pytest.raises(AnchorError, match="failed 2 times"):
            anchorer.run_once()
        node = LocalChain.start("anvil", port=port, state_dir=tmp_path / "chain", state_interval=1)
        cp = anchorer.run_once()
        assert cp is not None and cp.idx == 1 and cp.tree_size == tlog.size() - 1
        assert onchain(ledger) == [(3, tlog.root(3)), (cp.tree_size, tlog.root(cp.tree_size))]
        assert [c.idx for c in tlog.checkpoints()] == [0, 1]
        # A fresh anchorer (process restart) finds nothing to do and duplicates nothing.
        again = Anchorer(tlog, ledger, operator, every_entries=3, every_seconds=3600)
        assert again.run_once() is None and ledger.notary.checkpoint_count() == 2
    finally:
        node.stop()


def test_checkpoint_lost_by_the_node_is_forgotten_and_reanchored(tlog, fresh_chain, operator, w3) -> None:
    anchorer = Anchorer(tlog, fresh_chain, operator, every_entries=2, every_seconds=3600)
    fill(tlog, 2)
    anchorer.run_once()
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    fill(tlog, 2)
    assert anchorer.run_once().idx == 1
    # The node comes back from older persisted state: checkpoint 1 is gone from the chain.
    assert w3.provider.make_request("evm_revert", [snap])["result"]
    fill(tlog, 2)
    cp = anchorer.run_once()
    assert (cp.idx, cp.tree_size) == (1, tlog.size() - 1)
    assert [(c.idx, c.tree_size) for c in tlog.checkpoints()] == [(0, 2), (1, cp.tree_size)]
    assert onchain(fresh_chain)[1] == (cp.tree_size, tlog.root(cp.tree_size))


def test_recovers_after_the_chain_node_is_killed_and_restarts_from_its_last_state_dump(
    tlog, operator, tmp_path
) -> None:
    node = LocalChain.start("anvil", state_dir=tmp_path / "chain", state_interval=1)
    try:
        w3 = web3_at(node.rpc_url, timeout=10)
        ledger = Ledger(w3, deploy(w3, operator))
        anchorer = Anchorer(tlog, ledger, operator, every_entries=2, every_seconds=3600, backoff_seconds=0.05)
        fill(tlog, 2, "a")
        anchorer.run_once()
        time.sleep(2.5)  # at least one periodic state dump includes the deployment and checkpoint 0
        fill(tlog, 2, "b")
        anchorer.run_once()
        port = node.port
        node.process.kill()  # SIGKILL: whatever happened since the last dump is lost
        node.process.wait(timeout=10)
        node = LocalChain.start("anvil", port=port, state_dir=tmp_path / "chain", state_interval=1)
        fill(tlog, 2, "c")
        cp = anchorer.run_once()
        assert cp is not None and cp.tree_size == tlog.size() - 1
        chain_view = onchain(ledger)
        assert chain_view[0] == (2, tlog.root(2)) and chain_view[-1] == (
            cp.tree_size,
            tlog.root(cp.tree_size),
        )
        assert [(c.tree_size, c.root) for c in tlog.checkpoints()] == chain_view
    finally:
        node.stop()


def test_run_forever_rides_out_a_database_outage(tlog, fresh_chain, operator, database_url) -> None:
    fill(tlog, 4)
    sqlite = database_url.startswith("sqlite")
    # The anchorer's own engine gives up on a lock quickly; the test engine holds an exclusive lock.
    args = {"timeout": 0.1} if sqlite else {"options": "-c lock_timeout=100"}
    impatient = create_engine(database_url, connect_args=args)
    anchorer = Anchorer(
        TransparencyLog(impatient), fresh_chain, operator, every_entries=4, every_seconds=3600
    )
    blocker = tlog.engine.connect()
    blocker.exec_driver_sql("BEGIN EXCLUSIVE" if sqlite else "BEGIN")
    if not sqlite:
        blocker.exec_driver_sql("LOCK TABLE log_state, log_entries, log_checkpoints IN ACCESS EXCLUSIVE MODE")
    stop = threading.Event()
    worker = threading.Thread(target=anchorer.run_forever, args=(stop, 0.05))
    worker.start()
    try:
        time.sleep(1.0)
        assert worker.is_alive() and fresh_chain.notary.checkpoint_count() == 0
        blocker.exec_driver_sql("ROLLBACK")
        for _ in range(200):
            if fresh_chain.notary.checkpoint_count():
                break
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
        blocker.close()
        impatient.dispose()
    assert onchain(fresh_chain) == [(4, tlog.root(4))]
