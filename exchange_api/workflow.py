"""Workflow routers (listings, jobs, approvals, nodes, tx relay)."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    return []
