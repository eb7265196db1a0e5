"""The gateway's routes that are not API calls, as documented operations: the probes every service
shares (added by contracts_common.health), the OpenAPI document itself and the admin page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.models import Alive, Readiness
from gateway.openapi import Api, Html, Text

api = Api("Probes")


async def _documented_elsewhere(_: web.Request) -> web.Response:  # pragma: no cover - never routed
    raise web.HTTPNotFound()


for path, summary, responses in (
    ("/healthz", "Liveness", {200: Alive}),
    ("/readyz", "Readiness: broker and database reachable", {200: Readiness, 503: Readiness}),
    ("/metrics", "Prometheus metrics", {200: Text}),
    ("/api/v1/openapi.json", "This document", {200: dict[str, Any]}),
    ("/admin/", "The admin page", {200: Html}),
):
    api("GET", path, summary=summary, responses=responses, errors=(), admin=False, route=False)(
        _documented_elsewhere
    )
