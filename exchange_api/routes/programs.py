"""Program routes: compile a job spec into the program hash the nodes will check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from dx_core.roles import Role
from exchange_api.deps import CtxDep, Principal, require_role
from exchange_api.errors import problem_responses
from exchange_api.services.programs import ProgramCompileIn, ProgramCompileOut, compile_job

router = APIRouter(prefix="/v1/programs", tags=["jobs"])
# Only a buyer compiles: a compile stores the spec blob, which only a job request needs.
Buyer = Annotated[Principal, Depends(require_role(Role.BUYER, "compile job programs"))]


@router.post(
    "/compile",
    response_model=ProgramCompileOut,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Build and compile a job spec; returns the program hash and the spec (stored as a blob)",
    description="The spec binds the chain's records (algorithm, manifests, policies, the receiver's key). "
    "A spec that does not compile is a 422 problem whose `rule` names the refusing rule: unknown-algorithm, "
    "algorithm-version, invalid-params, invalid-inputs, spec-mismatch, manifest-missing, receiver-key, ...",
)
def compile_program(body: ProgramCompileIn, member: Buyer, ctx: CtxDep) -> ProgramCompileOut:
    # A plain def: FastAPI runs it in a worker thread, so a compilation (seconds) never blocks the loop.
    return compile_job(ctx, body, member.address)
