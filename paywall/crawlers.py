"""Verified search crawlers: a User-Agent is only believed from the crawler's own networks
(and, optionally, hostnames that resolve both ways), never on its own."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from .exchange import IPAddress, client_address

logger = logging.getLogger("paywall")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Awaitable[bool]]

DNS_TIMEOUT_SECONDS = 1.0
DNS_CACHE_SECONDS = 3600.0
DNS_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Crawler:
    """One crawler from the config: every check it names must pass."""

    name: str
    user_agent: str  # lower-cased substring
    networks: tuple[IPNetwork, ...]
    dns_suffixes: tuple[str, ...]  # e.g. (".googlebot.com", ".google.com"); empty: no DNS check

    def claims(self, user_agent: str) -> bool:
        return self.user_agent in user_agent.lower()

    def in_networks(self, address: IPAddress) -> bool:
        return not self.networks or any(address in network for network in self.networks)


class CrawlerVerifier:
    """Decides whether a request comes from a configured crawler; caches DNS answers."""

    def __init__(self, resolve: Resolver | None = None) -> None:
        self._resolve_override = resolve
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], tuple[bool, float]] = OrderedDict()

    async def verify(
        self, crawlers: Sequence[Crawler], user_agent: str, client: str | None
    ) -> str | None:
        """The name of the crawler this request verifiably comes from, else None."""
        if not crawlers or not user_agent or client is None:
            return None
        claimed = [crawler for crawler in crawlers if crawler.claims(user_agent)]
        if not claimed:
            return None
        address = client_address(client)
        if address is None:
            return None
        for crawler in claimed:
            if not crawler.in_networks(address):
                continue
            if crawler.dns_suffixes and not await self._dns_ok(str(address), crawler.dns_suffixes):
                continue
            return crawler.name
        return None

    async def _dns_ok(self, address: str, suffixes: tuple[str, ...]) -> bool:
        key = (address, suffixes)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(key)
            return cached[0]
        try:
            async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
                if self._resolve_override is not None:
                    ok = await self._resolve_override(address)
                else:
                    ok = await _reverse_then_forward(address, suffixes)
        except Exception as exc:  # any failure means "not verified", never an error page
            logger.info("paywall: crawler DNS check for %s failed: %s", address, exc)
            ok = False
        self._cache[key] = (ok, now + DNS_CACHE_SECONDS)
        if len(self._cache) > DNS_CACHE_SIZE:
            self._cache.popitem(last=False)
        return ok


async def _reverse_then_forward(address: str, suffixes: tuple[str, ...]) -> bool:
    """Google's method: the PTR name must end in an allowed suffix and resolve back."""
    loop = asyncio.get_running_loop()
    host, _ = await loop.getnameinfo((address, 0), socket.NI_NAMEREQD)
    host = host.rstrip(".").lower()
    if not host.endswith(suffixes):
        return False
    infos = await loop.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return any(str(ipaddress.ip_address(info[4][0])) == address for info in infos)
