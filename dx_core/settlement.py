"""ComputeJobs' crediting rule, mirrored in Python: who a job in a given status credited what."""

from __future__ import annotations

from typing import Any

# In dx_core, not in exchange_api.services, so that the CLI can tell who a job paid without importing the
# API's server side (FastAPI, SQLAlchemy): the API's earnings report and `dx job status` share this rule.

# The statuses that credit the buyer its whole escrow back (ComputeJobs: _credit(job.buyer, _escrow(terms))).
REFUND_STATUSES = frozenset({"disputed", "declined", "refunded", "refused"})


def job_credits(
    status: str, buyer: str, owners: list[str], prices: list[int], node_fee: int, nodes: list[str]
) -> list[dict[str, Any]]:
    """The credits a job in `status` made, as ComputeJobs makes them: a completed job pays each owner its
    listing's price and each of the three nodes its fee; a disputed, declined, refunded or refused job
    credits the buyer the whole escrow; any other status credited nobody yet."""
    if status == "completed":
        out = [{"account": o, "wei": int(p), "as": "owner", "input": i}
               for i, (o, p) in enumerate(zip(owners, prices, strict=True))]
        out += [{"account": n, "wei": int(node_fee), "as": "node", "input": None} for n in nodes]
        return out
    if status in REFUND_STATUSES:
        return [{"account": buyer, "wei": sum(int(p) for p in prices) + 3 * int(node_fee), "as": "buyer",
                 "input": None}]
    return []
