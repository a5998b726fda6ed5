"""The chain indexer against a real Anvil: idempotent, resumes after a restart, rolls back a reorg."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dx_core.roles import Role
from dx_core.settings import Settings
from exchange_api.app import build_context
from exchange_api.indexer.lease import IndexerLease
from exchange_api.models import ChainEvent, IndexerState, Member

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]


@pytest.fixture
def make_ctx(tmp_path, database_url, chain, api_world):  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        rpc_url=chain.rpc_url,
        deployment_file=api_world.deployment_file,
    )
    made = []

    def make():  # type: ignore[no-untyped-def]
        ctx = build_context(settings)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.engine.dispose()


def _members(ctx) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with Session(ctx.engine) as session:
        return {m.address: m.roles for m in session.exec(select(Member)).all()}


def _event_count(ctx) -> int:  # type: ignore[no-untyped-def]
    with Session(ctx.engine) as session:
        return len(session.exec(select(ChainEvent.id)).all())


def test_indexing_twice_changes_nothing_and_a_restart_resumes(make_ctx, api_world) -> None:
    fresh = api_world.member(Role.PROVIDER)
    ctx = make_ctx()
    assert ctx.indexer.run_once() > 0
    members = _members(ctx)
    assert members[fresh.address] == Role.PROVIDER
    events = _event_count(ctx)
    assert ctx.indexer.run_once() == 0
    assert _event_count(ctx) == events and _members(ctx) == members
    assert ctx.indexer.lag == 0

    # A new process on the same database resumes where the last one stopped.
    with Session(ctx.engine) as session:
        before = session.get(IndexerState, 1)
        last_block, last_hash = before.last_block, before.last_hash
    assert last_hash == api_world.ledger.w3.eth.get_block(last_block)["hash"].to_0x_hex()
    restarted = make_ctx()
    assert restarted.indexer.run_once() == 0
    later = api_world.member(Role.BUYER)
    assert restarted.indexer.run_once() == 1  # exactly the one MemberAdmitted event
    assert _members(restarted)[later.address] == Role.BUYER
    assert _event_count(restarted) == events + 1


def test_a_reorg_rolls_back_the_orphaned_blocks_rows(make_ctx, api_world, w3) -> None:
    ctx = make_ctx()
    ctx.indexer.run_once()
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    orphan = api_world.member(Role.PROVIDER)
    ctx.indexer.run_once()
    assert orphan.address in _members(ctx)
    events = _event_count(ctx)

    # Replace the blocks after the snapshot by a different history of at least the same length.
    assert w3.provider.make_request("evm_revert", [snapshot])["result"]
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    survivor = api_world.member(Role.BUYER)
    ctx.indexer.run_once()
    members = _members(ctx)
    assert orphan.address not in members, "a member admitted only on the orphaned fork is still cached"
    assert members[survivor.address] == Role.BUYER
    assert _event_count(ctx) == events  # one event dropped with the fork, one added on the new branch
    assert ctx.metrics.registry.get_sample_value("dx_indexer_reorgs_total") == 1
    assert ctx.indexer.run_once() == 0


def test_only_one_worker_holds_the_indexer_lease(tmp_path, db_engine) -> None:
    first, second = IndexerLease(db_engine, tmp_path), IndexerLease(db_engine, tmp_path)
    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    second.release()
