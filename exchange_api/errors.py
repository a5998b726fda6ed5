"""RFC 9457 problem+json: the API's error types, their handlers and their OpenAPI descriptions."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://dx.example/problems/"
log = logging.getLogger("exchange_api.errors")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=[TYPE_BASE + "not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no dataset listing with id 42"])
    instance: str = Field(examples=["/v1/catalog/datasets/42"])
    request_id: str = Field(default="", examples=["5f0c2a9e4b1d4c7f"])
    errors: list[dict[str, Any]] | None = Field(default=None, description="per-field validation errors")
    contract_error: dict[str, Any] | None = Field(
        default=None, description="the contract's custom error (name, contract, args) for a revert"
    )


class ApiError(Exception):
    """Base of every error the API turns into problem+json; subclasses fix status, slug and title."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    status, slug, title = 401, "unauthorized", "Not signed in"

    def __init__(self, detail: str, **kw: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **kw)


class Forbidden(ApiError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(ApiError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ApiError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(ApiError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class Unprocessable(ApiError):
    status, slug, title = 422, "unprocessable", "Unprocessable request"


class ContractRejected(ApiError):
    """The chain reverted the transaction; `contract_error` names the contract's custom error."""

    status, slug, title = 422, "contract-revert", "The contract rejected the transaction"


class ChainUnavailable(ApiError):
    status, slug, title = 503, "chain-unavailable", "The chain is not reachable"


class ServiceUnavailable(ApiError):
    status, slug, title = 503, "unavailable", "Service unavailable"


_STATUS_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Not signed in"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Invalid request"),
    500: ("internal", "Internal server error"),
}


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict | None = None,
) -> JSONResponse:
    default_slug, default_title = _STATUS_TITLES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or default_slug),
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id", ""),
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_detail(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, ours or the framework's, a problem+json response."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.detail,
            slug=exc.slug,
            title=exc.title,
            extra=exc.extra,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return problem_response(request, 422, _validation_detail(errors), extra={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, f"internal error ({type(exc).__name__}); see the server log")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the problem+json errors a route can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        slug, title = _STATUS_TITLES.get(status, ("error", "Error"))
        if status == 503:
            slug, title = "unavailable", "Service unavailable"
        out[status] = {
            "model": Problem,
            "description": title,
            "content": {
                PROBLEM_JSON: {
                    "example": {
                        "type": TYPE_BASE + slug,
                        "title": title,
                        "status": status,
                        "detail": "what exactly was wrong",
                        "instance": "/v1/...",
                        "request_id": "5f0c2a9e",
                    }
                }
            },
        }
    return out
