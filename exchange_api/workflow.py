"""The workflow routers, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from exchange_api import workflow_approvals, workflow_jobs, workflow_listings, workflow_nodes, workflow_tx

    return [
        workflow_listings.router,
        workflow_jobs.router,
        workflow_approvals.router,
        workflow_nodes.router,
        workflow_tx.router,
    ]
