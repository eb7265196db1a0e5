"""Broker failover: several AMQP addresses, one robust connection that moves between them.

`AMQP_URL` may list several nodes of one cluster, comma-separated, e.g.
``amqp://u:p@rmq-0:5672/,amqp://u:p@rmq-1:5672/`` or with the credentials only once:
``amqp://u:p@rmq-0:5672,rmq-1:5672,rmq-2:5672/vhost``. aio-pika's robust connection takes one URL, so
`FailoverConnection` picks the next address at the start of every (re)connect attempt: a dead node costs
one failed attempt (bounded by the connect timeout) before a live node is tried.
Channels, publisher confirms and consumers are restored by the robust connection itself; an unconfirmed
publish raises and is retried by the caller, an unacked delivery is redelivered by the broker.
"""

from __future__ import annotations

from typing import Any

from aio_pika import RobustConnection
from yarl import URL


def parse_amqp_urls(value: str) -> list[URL]:
    """Every broker address in a comma-separated AMQP_URL, in the given order."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("AMQP_URL is empty")
    first = URL(parts[0])
    urls = [first]
    for part in parts[1:]:
        if "://" in part:
            urls.append(URL(part))
            continue
        # A bare host[:port][/vhost] shares the scheme, credentials and vhost of the first address.
        host_port, _, vhost = part.partition("/")
        host, _, port = host_port.partition(":")
        url = first.with_host(host).with_port(int(port) if port else first.port)
        if vhost:
            url = url.with_path("/" + vhost)
        urls.append(url)
    if len(parts) > 1 and "/" not in parts[0].split("://", 1)[1] and "/" in parts[-1]:
        # Host-list form: the vhost written after the last host applies to all of them.
        path = urls[-1].path
        urls = [url.with_path(path) for url in urls]
    return urls


class AddressRotation:
    """Round-robin over the broker addresses; each call to `advance` names the next one to try."""

    def __init__(self, urls: list[URL]) -> None:
        if not urls:
            raise ValueError("no broker address")
        self.urls = urls
        self._index = -1

    @property
    def current(self) -> URL:
        return self.urls[max(self._index, 0)]

    def advance(self) -> URL:
        self._index = (self._index + 1) % len(self.urls)
        return self.urls[self._index]


class FailoverConnection(RobustConnection):
    """A robust connection that tries the next cluster node on every connect attempt."""

    def __init__(self, url: Any, **kwargs: Any) -> None:
        self._rotation = AddressRotation(parse_amqp_urls(str(url)))
        super().__init__(self._rotation.urls[0], **kwargs)

    # RobustConnection clears `transport` at the start of each connect attempt, then connects to `self.url`.
    # Moving to the next address there covers the first connect, a reconnect after the node went away and
    # a failed reconnect attempt alike.
    @property
    def transport(self) -> Any:
        return self.__dict__.get("_failover_transport")

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and "_failover_transport" in self.__dict__ and hasattr(self, "_rotation"):
            self.url = self._rotation.advance()
        self.__dict__["_failover_transport"] = value


def rotated_amqp_url(value: str, start: int) -> str:
    """The same address list beginning at address `start`: the initial connect fails fast, so a caller
    whose first node is down tries again starting at the next one."""
    urls = parse_amqp_urls(value)
    start %= len(urls)
    return ",".join(str(url) for url in urls[start:] + urls[:start])
