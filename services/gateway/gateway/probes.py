"""The gateway's routes that are not API calls, as documented operations: the probes every service
shares (added by contracts_common.health), the OpenAPI document itself and the admin page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.auth import Access
from gateway.models import Alive, Readiness
from gateway.openapi import Api, Html, Text

api = Api("Probes")


async def _documented_elsewhere(_: web.Request) -> web.Response:  # pragma: no cover - never routed
    raise web.HTTPNotFound()


for path, summary, answer, also in (
    ("/healthz", "Liveness", Alive, {}),
    ("/readyz", "Readiness: broker and database reachable", Readiness, {503: Readiness}),
    ("/metrics", "Prometheus metrics", Text, {}),
    ("/api/v1/openapi.json", "This document", dict[str, Any], {}),
    ("/admin/", "The admin page", Html, {}),
):
    api.get(path, answer, also=also, summary=summary, errors=(), access=Access.PUBLIC, route=False)(
        _documented_elsewhere
    )
