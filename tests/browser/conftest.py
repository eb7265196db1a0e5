"""Playwright (the Python package) driving Debian's Chromium; never `playwright install`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import ADMIN_TOKEN

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM_PRESENT = CHROMIUM.exists()
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


async def sign_in(page: Any, gateway: str, tab: str = "health", tenant: str = "acme") -> None:
    """With the platform key (the admin token): the operator's view is shown too."""
    await page.goto(f"{gateway}/admin/?tenant={tenant}#{tab}")
    await page.get_by_label("Admin token", exact=True).fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Continue").click()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM_PRESENT:
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the playwright Python package is not installed in this venv"
    )
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class PageWatch:
    """What a page did that a test should fail on: script errors and requests leaving the gateway."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.external_requests: list[str] = []


@pytest.fixture
async def watched_page(browser: Any, gateway: str) -> AsyncIterator[tuple[Any, PageWatch]]:
    """A fresh browser context and page whose requests may only go to the gateway."""
    context = await browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="en-US", timezone_id="UTC", service_workers="block"
    )
    watch = PageWatch(gateway)

    async def only_the_gateway(route: Any) -> None:
        url = route.request.url
        # Browser-internal schemes (blob:, chrome: for the PDF viewer...) are not the network.
        if url.startswith(gateway) or not url.startswith(("http:", "https:", "ws:", "wss:", "ftp:")):
            await route.continue_()
        else:  # the page must work offline: nothing from a CDN or anywhere else
            watch.external_requests.append(url)
            await route.abort()

    await context.route("**/*", only_the_gateway)
    tab = await context.new_page()
    tab.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))
    tab.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield tab, watch
    finally:
        await context.close()


async def axe_violations(
    page: Any, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict[str, Any]]:
    """Run the vendored axe-core on the page as it is now; the violations of the given impacts."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"
    )
    return [v for v in result if v["impact"] in impacts]


async def assert_accessible(page: Any, where: str) -> None:
    violations = await axe_violations(page)
    report = json.dumps(violations, indent=1)
    assert not violations, f"axe found serious/critical violations on {where}:\n{report}"
