"""Where a notification may be sent: an https URL whose host resolves only to public addresses.

A tenant chooses the URL, and we call it from inside our network: a host on loopback, a private range or
link-local (cloud metadata at 169.254.169.254) would let a tenant reach our own services (SSRF). The
check runs when the URL is set and again before every delivery, since DNS may change in between; an
IPv4-mapped IPv6 address is judged as the IPv4 address it carries. `allow_private` (the operator's
NOTIFICATIONS_ALLOW_PRIVATE_TARGETS, local runs and tests) lifts both the address and the https rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_SECONDS = 5.0


class TargetRefused(ValueError):
    """The URL may not be a notification target; the message says why, for the admin."""


def refused_address(address: IpAddress) -> str | None:
    """Why `address` may not be called, or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused_address(address.ipv4_mapped)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def parse_target(url: str, *, allow_private: bool) -> tuple[str, int]:
    """(host, port) of a well-formed target URL; TargetRefused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL is malformed: {exc}") from exc
    if parts.scheme not in ("https", "http"):
        raise TargetRefused("the URL must start with https://")
    if parts.scheme == "http" and not allow_private:
        raise TargetRefused("plain http:// is refused; use https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"the host {host} does not resolve: {exc}") from exc
    except TimeoutError as exc:
        raise TargetRefused(f"the host {host} did not resolve within {RESOLVE_TIMEOUT_SECONDS:g} s") from exc
    # Scope ids (fe80::1%eth0) are not part of the address.
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_target(url: str, *, allow_private: bool) -> list[IpAddress]:
    """Refuse a target that is not https or whose host resolves to any non-public address (every
    address is checked: a client may connect to any of them). Returns the addresses."""
    host, port = parse_target(url, allow_private=allow_private)
    addresses = await resolve(host, port)
    if not addresses:
        raise TargetRefused(f"the host {host} does not resolve")
    if not allow_private:
        for address in addresses:
            if (why := refused_address(address)) is not None:
                raise TargetRefused(f"the host {host} resolves to {address}, {why}")
    return addresses
