"""The sandbox's HTTP resources, assembled in matching order."""

from __future__ import annotations

from starlette.routing import Route

from tandem.sandbox.salesforce.app import ApiRouter
from tandem.sandbox.salesforce.routes import (
    admin,
    auth,
    bulk,
    collections,
    composite,
    query,
    soap,
    sobjects,
)

__all__ = ["api_router", "plain_routes"]

_ALL = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def api_router() -> ApiRouter:
    """The REST resources under ``/services/data/vNN.N/``."""
    return ApiRouter(
        [
            *sobjects.ROUTES,
            *query.ROUTES,
            *collections.ROUTES,
            *composite.ROUTES,
            *bulk.ROUTES,
        ]
    )


def plain_routes() -> list[Route]:
    """Login, discovery and admin routes; the NOT_FOUND catch-all comes last."""
    return [
        Route("/services/oauth2/token", auth.token, methods=["POST"]),
        Route("/services/Soap/u/{version}", soap.call, methods=["POST"]),
        Route("/services/Soap/u/{version}/{org_id}", soap.call, methods=["POST"]),
        Route("/services/data", auth.versions, methods=["GET"]),
        Route("/id/{org_id}/{user_id}", auth.identity, methods=["GET"]),
        Route("/__sandbox/faults", admin.faults, methods=["GET", "POST", "DELETE"]),
        Route("/__sandbox/expire-sessions", admin.expire_sessions, methods=["POST"]),
        Route("/__sandbox/limits", admin.limits, methods=["POST"]),
        Route("/__sandbox/stats", admin.stats, methods=["GET"]),
        Route("/{path:path}", admin.not_found, methods=_ALL),
    ]
