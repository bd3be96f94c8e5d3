"""The paywall with payments on, for the webhook and API tests: the sample article site
behind it on real Redis, served by a real uvicorn in this process, its clock in the test's
hands, readers signed in by `X-Test-Account`."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from paywall import Entitlements, PaywallMiddleware
from paywall.names import Status

from . import servers
from .conftest import CONFIG, REAL_REDIS_URL, article_site
from .live_server import LiveServer, SignedInBy
from .stripe_events import BASE_TIME, WEBHOOK_SECRET, body_of, signature

GRACE_DAYS = 3
WEBHOOK = "/paywall/webhooks/stripe"
API = "/paywall/api/entitlements"
PREMIUM = "/premium/story"
ADMIN_TOKEN = "admin-token-for-payments-tests"


def config_text(prefix: str) -> str:
    text = CONFIG.replace("PREFIX", prefix).replace(
        "store:\n", f"store:\n  url: {REAL_REDIS_URL}\n"
    )
    text = text.replace("access: metered}", "access: metered, section: news}")
    return text + (
        "cookie:\n  secure: false\n"
        "analytics:\n  enabled: true\n  flush_seconds: 600\n"
        f"payments:\n  stripe:\n    grace_days: {GRACE_DAYS}\n"
    )


@dataclass
class Site:
    """The paywall behind real uvicorn; `now` is its clock."""

    server: LiveServer
    paywall: PaywallMiddleware
    redis: Any
    prefix: str
    now: datetime

    def at(self, seconds: int) -> None:
        self.now = datetime.fromtimestamp(seconds, BASE_TIME.tzinfo)

    def send(
        self, data: Any, *, secret: str = WEBHOOK_SECRET, stamp: int | None = None
    ) -> httpx.Response:
        body = data if isinstance(data, bytes) else body_of(data)
        headers = {
            "Stripe-Signature": signature(body, secret, stamp),
            "Content-Type": "application/json",
        }
        return httpx.post(self.server.url + WEBHOOK, content=body, headers=headers, timeout=10)

    def sends(self, *events: Any) -> list[str]:
        """Deliver each event; the result each answered (all must be 200)."""
        results = []
        for data in events:
            response = self.send(data)
            assert response.status_code == 200, response.text
            results.append(response.json()["result"])
        return results

    def view(self, account: str) -> str:
        """What `account` gets of the premium article: "full" or the prompt walling it."""
        page = httpx.get(self.server.url + PREMIUM, headers={"X-Test-Account": account}, timeout=10)
        assert page.status_code == 200
        if "secret-text-6" in page.text:
            return "full"
        return page.text.split('data-paywall="', 1)[1].split('"', 1)[0]

    async def status(self, account: str) -> Status:
        return await Entitlements(self.redis, self.prefix).status(account, now=self.now)

    async def until(self, account: str) -> int:
        _, until = await Entitlements(self.redis, self.prefix).lookup(account)
        assert until is not None
        return int(until.timestamp())


@contextlib.asynccontextmanager
async def running_site(tmp_path: Path) -> AsyncIterator[Site]:
    """The sample site behind the paywall on real Redis (its own key prefix, deleted
    afterwards), served by a real uvicorn; its clock one day after the fixtures' start."""
    prefix = f"paywall-test-{uuid.uuid4().hex[:12]}:"
    config = tmp_path / "paywall.yaml"
    config.write_text(config_text(prefix), encoding="utf-8")
    paywall = PaywallMiddleware(article_site, config=config)
    server = LiveServer(SignedInBy(paywall))
    redis = aioredis.from_url(str(REAL_REDIS_URL))
    state = Site(server, paywall, redis, prefix, BASE_TIME + timedelta(days=1))
    paywall.clock = lambda: state.now
    try:
        yield state
    finally:
        server.stop()
        await redis.aclose()
        servers.delete_keys(str(REAL_REDIS_URL), prefix)
