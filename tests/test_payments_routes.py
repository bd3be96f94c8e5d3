"""Which paths the payments routes claim, and how they answer what is not an event or a
grant: other methods, bodies too large, a store that does not answer (503, so Stripe and
other senders retry)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from paywall import PaywallMiddleware

from .conftest import article_site, client_for
from .redis_server import free_port
from .stripe_events import WEBHOOK_SECRET, body_of, event, signature

pytestmark = pytest.mark.anyio

WEBHOOK = "/paywall/webhooks/stripe"
API = "/paywall/api/entitlements"
TOKEN = "admin-token-for-route-tests"


@pytest.fixture(autouse=True)
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", TOKEN)


def paywall(config_file: Callable[..., Path], redis: Any) -> PaywallMiddleware:
    return PaywallMiddleware(article_site, config=config_file(), redis=redis)


async def test_only_the_two_paths_are_claimed(config_file: Callable[..., Path]) -> None:
    async with client_for(paywall(config_file, fakeredis.FakeAsyncRedis())) as client:
        for path in (WEBHOOK + "/more", "/paywall/webhooks", API + "s", "/other" + WEBHOOK):
            answer = await client.post(path)
            assert "secret-text-1" in answer.text, path  # the site's page
        assert (await client.get(WEBHOOK)).status_code == 405
        too_big = await client.post(WEBHOOK, content=b"x" * (1024 * 1024 + 1))
        assert too_big.status_code == 413


async def test_a_silent_store_is_a_503_so_the_sender_retries(
    config_file: Callable[..., Path],
) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    try:
        async with client_for(paywall(config_file, dead)) as client:
            body = body_of(event("checkout.session.completed", metadata={}))
            sent = await client.post(
                WEBHOOK, content=body, headers={"Stripe-Signature": signature(body)}
            )
            assert sent.status_code == 503 and sent.headers["cache-control"] == "private, no-store"
            grant = {"account": "a", "plan": "none"}
            answer = await client.post(
                API, json=grant, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert answer.status_code == 503
    finally:
        await dead.aclose()
