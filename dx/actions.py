"""What each role command does, as thin calls into the exchange client and the compute clients."""

from __future__ import annotations

from typing import Any

from dx import output, session
from dx.errors import NotAvailableError


def _pending(name: str, acting: str) -> Any:
    session.client(acting)  # raises a clear NotAvailableError while the client SDK has not landed
    raise NotAvailableError(f"`{name}` is not wired to the exchange yet",
                            hint="this command lands together with the exchange API's routes")


def admit_member(acting, member, roles, x25519):
    return _pending("dx member admit", acting)


def list_members(acting):
    return _pending("dx member list", acting)


def register_cluster(acting):
    return _pending("dx cluster register", acting)


def show_cluster():
    return _pending("dx cluster show", "operator")


def publish_dataset(acting, file, columns, price, max_uses, title, progress=False):
    return _pending("dx dataset publish", acting)


def list_datasets(acting, mine):
    return _pending("dx dataset list", acting)


def show_dataset(acting, dataset_id):
    return _pending("dx dataset show", acting)


def delist_dataset(acting, dataset_id):
    return _pending("dx dataset delist", acting)


def publish_algorithm(acting, algorithm, model, price, max_uses):
    return _pending("dx algorithm publish", acting)


def list_algorithms(acting):
    return _pending("dx algorithm list", acting)


def pending_requests(acting):
    return _pending("dx requests", acting)


def decide(acting, job_id, approve):
    return _pending("dx approve" if approve else "dx decline", acting)


def search_catalog(acting, query):
    return _pending("dx catalog search", acting)


def request_job(acting, algorithm, datasets, params, receiver):
    return _pending("dx job request", acting)


def job_status(acting, job_id):
    return _pending("dx job status", acting)


def watch_job(acting, job_id):
    return _pending("dx job status --watch", acting)


def fetch_result(acting, job_id, out):
    return _pending("dx job result", acting)


def audit_trail(acting, job_id):
    return _pending("dx audit trail", acting)


def audit_usage(acting, dataset_id):
    return _pending("dx audit usage", acting)


def audit_verify(acting):
    return _pending("dx audit verify", acting)


def audit_export(acting, out):
    return _pending("dx audit export", acting)


def listing_table(title, rows):
    return output.table(title, ["id", "title", "owner", "price", "uses"],
                        [(r.get("id"), r.get("title"), r.get("owner"), r.get("price"), r.get("uses"))
                         for r in rows])


def jobs_table(title, rows):
    return output.table(title, ["job", "algorithm", "buyer", "status"],
                        [(r.get("id"), r.get("algorithm"), r.get("buyer"), r.get("status")) for r in rows])


def trail_table(title, rows):
    return output.table(title, ["seq", "kind", "actor", "time"],
                        [(r.get("seq"), r.get("kind"), r.get("actor"), r.get("time")) for r in rows])
