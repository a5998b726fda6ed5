"""What each role command does: thin calls into the contracts, the exchange client and the compute clients."""

from dx.actions.audit import audit_export, audit_trail, audit_usage, audit_verify
from dx.actions.buyer import fetch_result, job_status, request_job, search_catalog, watch_job
from dx.actions.operator import admit_member, list_members, register_cluster, show_cluster
from dx.actions.sellers import (
    decide,
    delist_dataset,
    list_algorithms,
    list_datasets,
    pending_requests,
    publish_algorithm,
    publish_dataset,
    show_dataset,
)
from dx.actions.stack import bring_up
from dx.actions.tables import jobs_table, listing_table, trail_table

__all__ = [
    "admit_member", "audit_export", "audit_trail", "audit_usage", "audit_verify", "bring_up", "decide",
    "delist_dataset", "fetch_result", "job_status", "jobs_table", "list_algorithms", "list_datasets",
    "list_members", "listing_table", "pending_requests", "publish_algorithm", "publish_dataset",
    "register_cluster", "request_job", "search_catalog", "show_cluster", "show_dataset", "trail_table",
    "watch_job",
]
