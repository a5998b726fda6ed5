"""Contract-suite fixtures: a session-wide set of members, a cluster and listings on the test chain."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts import ContractRevert, Ledger
from dx_core.roles import Role

CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
NODE_FEE = 10**15
PRICES = {"d1": 10**16, "d2": 2 * 10**16, "alg": 5 * 10**15}


def h(label: str) -> bytes:
    """A deterministic 32-byte value for a label."""
    return Web3.keccak(text=label)


@dataclass(frozen=True)
class World:
    """Who is who on the test chain, and the listings everyone starts from."""

    operator: LocalAccount
    provider1: LocalAccount
    provider2: LocalAccount
    algo_owner: LocalAccount
    buyer: LocalAccount
    nodes: tuple[LocalAccount, LocalAccount, LocalAccount]
    regulator: LocalAccount
    relayer: LocalAccount
    outsider: LocalAccount
    buyer2: LocalAccount
    spare_node: LocalAccount
    dataset1: int
    dataset2: int
    algorithm: int


@pytest.fixture(scope="session")
def world(ledger: Ledger, dev_accounts: list[LocalAccount]) -> World:
    """Members admitted, a cluster registered, two datasets and one algorithm listed (once per session)."""
    a = dev_accounts
    operator, p1, p2, algo, buyer, n0, n1, n2, reg, relayer, outsider, buyer2, spare = a[:13]
    r = ledger.registry
    r.admit(operator, p1.address, Role.PROVIDER, h("key p1"), CID)
    r.admit(operator, p2.address, Role.PROVIDER, h("key p2"), CID)
    r.admit(operator, algo.address, Role.ALGORITHM_PROVIDER, h("key algo"), CID)
    r.admit(operator, buyer.address, Role.BUYER, h("key buyer"), CID)
    r.admit(operator, buyer2.address, Role.BUYER | Role.PROVIDER, h("key buyer2"), CID)
    r.admit(operator, reg.address, Role.REGULATOR, h("key regulator"), CID)
    for i, node in enumerate((n0, n1, n2, spare)):
        r.admit(operator, node.address, Role.COMPUTE_NODE, h(f"key node {i}"), CID)
    r.register_cluster(operator, [n0.address, n1.address, n2.address], CID, h("spu config"), NODE_FEE)
    m = ledger.market
    d1 = m.list_dataset(p1, CID, h("manifest 1"), PRICES["d1"], max_uses=50).event("DatasetListed").args["id"]
    d2 = m.list_dataset(p2, CID, h("manifest 2"), PRICES["d2"], max_uses=50).event("DatasetListed").args["id"]
    alg = m.list_algorithm(algo, "joint_stats", "1.0", h("code"), CID, PRICES["alg"], max_uses=50)
    return World(
        operator,
        p1,
        p2,
        algo,
        buyer,
        (n0, n1, n2),
        reg,
        relayer,
        outsider,
        buyer2,
        spare,
        d1,
        d2,
        alg.event("AlgorithmListed").args["id"],
    )


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def registered_key(ledger: Ledger, account: str) -> bytes:
    """The account's registered X25519 key (results are sealed to it); a placeholder for non-members."""
    member = ledger.registry.member(account)
    return member.encryption_key if member is not None else h("not a member")


def request_job(
    ledger: Ledger,
    w3: Web3,
    world: World,
    buyer: LocalAccount | None = None,
    datasets: list[int] | None = None,
    algorithm: int | None = None,
    program: str = "program",
    deadline_in: int = 3600,
    receiver: str | None = None,
    value_delta: int = 0,
    result_key: bytes | None = None,
) -> int:
    """Request a job (default: both datasets and the algorithm) and return its id."""
    buyer = buyer or world.buyer
    datasets = [world.dataset1, world.dataset2] if datasets is None else datasets
    algorithm = world.algorithm if algorithm is None else algorithm
    value = ledger.jobs.escrow_for(datasets, algorithm, buyer.address, ledger.market) + value_delta
    result = ledger.jobs.request(
        buyer,
        datasets,
        algorithm,
        h("params"),
        h(program),
        result_key or registered_key(ledger, receiver or buyer.address),
        now(w3) + deadline_in,
        value,
        result_receiver=receiver,
    )
    return result.event("JobRequested").args["jobId"]


def sign_all(ledger: Ledger, job_id: int, owners: list[LocalAccount], deadline: int) -> list:
    return [ledger.jobs.sign_approval(o, job_id, ledger.jobs.next_nonce(o.address), deadline) for o in owners]


def authorize(ledger: Ledger, w3: Web3, world: World, job_id: int) -> None:
    owners = [world.provider1, world.provider2, world.algo_owner]
    ledger.jobs.approve_batch(world.relayer, job_id, sign_all(ledger, job_id, owners, now(w3) + 600))


def attest_all(ledger: Ledger, world: World, job_id: int, digest: bytes = b"") -> None:
    program = ledger.jobs.terms(job_id).program_hash
    for i, node in enumerate(world.nodes):
        ledger.jobs.attest(node, job_id, digest or h("inputs"), program, h(f"output share {i}"))


def revert_of(call, *args, **kwargs) -> ContractRevert:
    """The ContractRevert `call(*args, **kwargs)` raises (the test fails if it does not revert)."""
    with pytest.raises(ContractRevert) as info:
        call(*args, **kwargs)
    return info.value
