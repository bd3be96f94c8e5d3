"""The ASGI glue: judge each request's path, decide each view, rewrite the page on its way out.

The way down: the rule for the path (routing.py), then, when the upstream answers with
something a reader could read, one decision (metering.py: identity, the meter in Redis;
decision.py). The way back up: the response as that decision says (responder.py, with
rewrite.py for pages). Each gated request is one `PaywallResponder` with one state field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from . import rewrite, routing
from .analytics.endpoints import Endpoints
from .analytics.recorder import Recorder
from .analytics.storewatch import watch
from .config import LiveConfig
from .connection import store_clients
from .crawlers import CrawlerVerifier
from .identity import (
    ReaderCookie,
    article_id_key,
    new_reader_id,
    secret_keys,
)
from .metering import Tools
from .overload import InFlight
from .responder import FreePage, PaywallResponder
from .settings import Config
from .sharing.gifts import GiftTokens
from .store import MeterStore
from .summary import SummaryCookie


class PaywallMiddleware:
    """Meters article views per reader and walls readers whose free articles are used up.

    `config` is the YAML file; `redis` an optional redis.asyncio client (else
    `store.url`, else the embedded in-memory store).
    """

    def __init__(self, app: ASGIApp, config: str | Path, redis: Any = None) -> None:
        self.app = app
        self.live = LiveConfig(config, clock=self._now)
        first = self.live.config
        startup = first.startup
        self._keys = secret_keys(startup.secret_env)
        # The meter may run on our own RESP client, analytics on redis-py (connection.py).
        meter, client = (
            (redis, redis)
            if redis is not None
            else store_clients(startup.store_url, startup.store_timeout)
        )
        self.store = MeterStore(
            meter,
            startup.store_prefix,
            startup.store_timeout,
            startup.store_breaker_seconds,
            id_key=article_id_key(self._keys),
        )
        self.crawlers = CrawlerVerifier()
        self.in_flight = InFlight()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.new_reader_id: Callable[[], str] = new_reader_id  # the demo's simulation seeds it
        self._pages = rewrite.PageCuts(first.page_cache_bytes)
        self._tools_for: tuple[Config, Tools] | None = None
        self._gift_tokens = GiftTokens(self._keys)
        # Analytics (paywall/analytics/): counted per view in memory, flushed to the store.
        self.analytics = Recorder(client, first.startup.store_prefix, self._keys, self._now, first)
        self.endpoints = Endpoints(
            self.analytics, self.live, client, first.startup.store_prefix, self._keys
        )
        watch(self.store, self.analytics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan" and self.live.config.analytics.serves:
                await self.endpoints.lifespan(self.app, scope, receive, send)  # flush at the end
                return
            await self.app(scope, receive, send)
            return
        config = self.live.current()
        if self.endpoints.wants(config, scope["path"]):
            await self.endpoints.answer(config, scope, receive, send)
            return
        access, rule = routing.route_of(config, scope)
        if access == "free":  # the common case, kept cheap: no responder unless X-Paywall
            free = FreePage(self, config, scope, send)
            await self.app(scope, receive, free.send)
            await free.finish()
            return
        tools = self.tools(config)
        await PaywallResponder(self.app, config, tools, scope, access, rule, self.analytics)(
            receive, send
        )

    def tools(self, config: Config) -> Tools:
        """What requests under this config version use (the cookie's name and flags, and the
        page cache's size, may change on reload)."""
        if self._tools_for is None or self._tools_for[0] is not config:
            name, secure, max_age = config.cookie_name, config.cookie_secure, config.cookie_max_age
            cookies = ReaderCookie(
                self._keys, name, secure=secure, max_age=max_age, mint=self._mint
            )
            # The reader's last verdict, for outages (summary.py): same keys, own salt.
            summaries = SummaryCookie(self._keys, name, secure=secure, max_age=max_age)
            self._pages.budget = config.page_cache_bytes
            tools = Tools(
                self.store,
                cookies,
                summaries,
                self.crawlers,
                self.in_flight,
                self._pages,
                self._now,
                self._gift_tokens,
            )
            self._tools_for = (config, tools)
        return self._tools_for[1]

    def _now(self) -> datetime:
        return self.clock()  # looked up on each call, so tests can set a fixed clock

    def _mint(self) -> str:
        return self.new_reader_id()
