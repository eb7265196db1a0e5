"""Ironclad's webhook deliveries (built in issue 6)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
