"""The node's control API (FastAPI): health, public keys, job status, and the trigger to run a job."""

from __future__ import annotations

from fastapi import Body, FastAPI, HTTPException

from mpc_compute.node.service import JobConflict, NodeService


def make_app(service: NodeService) -> FastAPI:
    app = FastAPI(title=f"dx compute node {service.config.index}")

    @app.get("/health")
    def health() -> dict:
        running = sum(1 for s in service.jobs.values() if s.status in ("queued", "running"))
        return {
            "status": "ok",
            "index": service.config.index,
            "address": service.identity.address,
            "jobs_running": running,
        }

    @app.get("/keys")
    def keys() -> dict:
        return {
            "index": service.config.index,
            "address": service.identity.address,
            "x25519_public": service.identity.x25519_public.hex(),
        }

    @app.get("/jobs/{job_id}")
    def job(job_id: int) -> dict:
        state = service.status(job_id)
        if state is None:
            raise HTTPException(404, f"node {service.config.index} has not seen job {job_id}")
        return state.to_dict()

    @app.post("/jobs/{job_id}/run", status_code=202)
    def run(job_id: int, claim: dict | None = Body(default=None)) -> dict:  # noqa: B008
        try:
            return service.trigger(job_id, claim).to_dict()
        except JobConflict as exc:
            raise HTTPException(409, str(exc)) from None

    return app
