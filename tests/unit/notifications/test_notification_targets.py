"""Issue 23: a tenant's notification URL may not make us call into our own network (SSRF).

Every loopback, private and link-local range is refused, in IPv4 and IPv6, also as an IPv4-mapped IPv6
address and behind a host name that resolves to one; plain http:// likewise; the operator's
NOTIFICATIONS_ALLOW_PRIVATE_TARGETS lifts both rules.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from contracts_common.notifications.targets import TargetRefused, check_target, refused_address

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "100.64.0.1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", REFUSED)
async def test_a_url_on_a_refused_address_is_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(TargetRefused, match="resolves to"):
        await check_target(f"https://{host}/hook", allow_private=False)


async def test_plain_http_is_refused_even_to_a_public_address() -> None:
    with pytest.raises(TargetRefused, match="http://"):
        await check_target("http://93.184.216.34/hook", allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://93.184.216.34/", "https:///nohost", "https://u:p@93.184.216.34/", "nonsense"]
)
async def test_malformed_or_foreign_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await check_target(url, allow_private=False)


async def test_a_host_name_resolving_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS is the attacker's: a public-looking name may resolve to 10/8 (or only one of its addresses)."""

    async def resolver(host: str, port: int, **_: Any) -> list[Any]:
        assert host == "hooks.example.com"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    import asyncio

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.7, a private address"):
        await check_target("https://hooks.example.com/x", allow_private=False)


async def test_localhost_by_name_is_refused() -> None:
    with pytest.raises(TargetRefused, match="loopback"):
        await check_target("https://localhost:8443/hook", allow_private=False)


async def test_the_operator_may_allow_private_targets_and_http() -> None:
    addresses = await check_target("http://127.0.0.1:9/hook", allow_private=True)
    assert addresses == [ipaddress.ip_address("127.0.0.1")]


async def test_the_delivery_resolver_refuses_a_name_that_now_resolves_privately(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name passed the check, then resolves to 169.254.169.254 when connecting."""
    from aiohttp.resolver import DefaultResolver

    from importer.notifications import PublicOnlyResolver

    async def rebound(self: Any, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[Any]:
        return [
            {
                "hostname": host,
                "host": "169.254.169.254",
                "port": port,
                "family": family,
                "proto": 0,
                "flags": 0,
            }
        ]

    monkeypatch.setattr(DefaultResolver, "resolve", rebound)
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(OSError, match="link-local"):
            await resolver.resolve("hooks.example.com", 443)
    finally:
        await resolver.close()
