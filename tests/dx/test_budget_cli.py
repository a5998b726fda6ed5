"""A dataset's privacy budget through the real `dx` entry point on a real chain and API: publish sets it,
`dx dataset show` prints ε spent and left, `dx job request` carries the reserved ε as dp_epsilon, and a
request that would overspend, a wrong ε or a non-owner's budget are refused in words."""

from __future__ import annotations

import json

import httpx
import pytest

from dx import context
from dx.actions.budget import budget_usage
from dx_core.cid import cid_from_digest
from exchange_api.client import ExchangeError
from mpc_compute.job_spec import JobSpec
from tests.dx.test_membership_cli import dx, dx_json, dx_world

pytestmark = [pytest.mark.api, pytest.mark.chain, pytest.mark.database]
__all__ = ["dx_world"]  # the module-scoped stack fixture, shared with the membership tests
BOUNDS = 'dp_bounds={"0": [0, 2000], "1": [0, 200]}'


def _blob(digest: bytes) -> bytes:
    resp = httpx.get(f"{context.api_url()}/v1/blobs/{cid_from_digest(digest)}", timeout=30)
    resp.raise_for_status()
    return resp.content


def _request(capsys, dataset_id: int, algorithm_id: int, *params: str) -> tuple[int, str, str]:
    extra = [a for p in params for a in ("-p", p)]
    return dx(capsys, "--json", "job", "request", "-a", str(algorithm_id), "-d", f"data_0={dataset_id}",
              *extra, "--as", "buyer")


def test_budget_is_set_shown_spent_and_enforced(dx_world, capsys) -> None:
    market, jobs = dx_world.w.ledger.market, dx_world.w.ledger.jobs
    published = dx_json(capsys, "dataset", "publish", str(dx_world.csv), "--schema",
                        "enterprise_id,revenue,tax_paid", "--price", "100", "--epsilon-budget", "1.0",
                        "--epsilon-per-job", "0.4", "--as", "seller")
    dataset_id = published["dataset_id"]
    assert published["privacy_budget"]["text"] == "ε 1.0 total, 0.4 per job, 0.0 spent, 1.0 left"
    assert market.privacy_budget(dataset_id).total_micro_eps == 1_000_000

    # only the owner sets it: refused before anything is sent, naming the contract's rule
    code, out, err = dx(capsys, "dataset", "budget", str(dataset_id), "--total", "9", "--per-job", "1",
                        "--as", "buyer")
    assert code != 0 and "NotListingOwner" in out + err, (out, err)
    # nor does the exchange build it for a non-owner who skips the CLI
    with pytest.raises(ExchangeError) as refused:
        context.client("buyer").set_privacy_budget(dataset_id, 9_000_000, 1_000_000)
    assert refused.value.status == 403
    assert market.privacy_budget(dataset_id).total_micro_eps == 1_000_000

    algorithm_id = dx_json(capsys, "algorithm", "publish", "joint_stats", "--as", "vendor")["algorithm_id"]
    # a buyer asking for less noise than the budget charges is refused before any escrow
    count = jobs.job_count()
    code, out, err = _request(capsys, dataset_id, algorithm_id, BOUNDS, "dp_epsilon=0.9")
    assert code != 0 and "privacy-budget" in out + err, (out, err)
    # the noise needs clipping bounds only the buyer can declare: said before anything is sent
    code, out, err = _request(capsys, dataset_id, algorithm_id)
    assert code != 0 and "dp_bounds" in out + err and "privacy budget" in out + err, (out, err)
    assert jobs.job_count() == count

    code, out, err = _request(capsys, dataset_id, algorithm_id, BOUNDS)
    assert code == 0, (out, err)
    job = json.loads(out)
    spec = JobSpec.from_bytes(_blob(bytes.fromhex(job["params_hash"][2:])))
    assert spec.params["dp_epsilon"] == 0.4
    assert market.reserved_epsilon(job["job_id"], dataset_id) == 400_000

    code, out, _ = dx(capsys, "dataset", "show", str(dataset_id), "--as", "buyer")
    assert code == 0 and "privacy budget: ε 1.0 total, 0.4 per job, 0.4 spent, 0.6 left" in out, out

    code, out, err = _request(capsys, dataset_id, algorithm_id, BOUNDS)
    assert code == 0, (out, err)
    second = json.loads(out)["job_id"]
    # the third job of 0.4 does not fit in what is left (0.2): refused before the chain is asked
    code, out, err = _request(capsys, dataset_id, algorithm_id, BOUNDS)
    assert code != 0 and "PrivacyBudgetExceeded" in out + err and "0.2 left" in out + err, (out, err)
    assert market.privacy_budget(dataset_id).spent_micro_eps == 800_000

    # nor may the owner lower the total below what is spent: the Market's rule, named through the API
    code, out, err = dx(capsys, "dataset", "budget", str(dataset_id), "--total", "0.5", "--per-job", "0.4",
                        "--as", "seller")
    assert code != 0 and "BudgetBelowSpent" in out + err, (out, err)

    # the owner declines the second: its ε comes back, and the audit's account says which job holds what
    dx_json(capsys, "decline", str(second), "--as", "seller")
    usage = budget_usage(dataset_id)
    assert usage["text"] == "ε 1.0 total, 0.4 per job, 0.4 spent, 0.6 left"
    assert usage["jobs"] == [
        {"job": job["job_id"], "reserved_micro_eps": 400_000, "released_micro_eps": 0},
        {"job": second, "reserved_micro_eps": 400_000, "released_micro_eps": 400_000},
    ]
    assert _request(capsys, dataset_id, algorithm_id, BOUNDS)[0] == 0
