"""The demo: the sample newspaper behind the paywall, with sign-in, ready for uvicorn."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp

from ..config import load_config
from ..connection import store_clients
from ..identity import secret_keys
from ..middleware import PaywallMiddleware
from ..payments.ledger import Ledger
from . import accounts, checkout, traffic
from .billing import DemoStripe, demo_secret
from .site import build_site

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def build_demo(
    config: str | Path = DEMO_CONFIG,
    redis: Any = None,
    *,
    simulate_days: int = 0,
    simulate_until: date | None = None,
    announce: Callable[[traffic.Simulated], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The demo site behind the paywall (configured by `config`), demo accounts seeded.

    With `simulate_days`, start-up first drives that many days of simulated readers (the
    last one `simulate_until`, default today) through the paywall onto the same store, so
    the dashboard has something to show; `announce` is told what was simulated. `clock`
    (default: the real time) is the paywall's, the demo accounts' and the checkout's "now".
    The demo's webhook secret comes from `payments.stripe.webhook_secret_env`, else is made."""
    settings = load_config(config)
    url, budget = settings.startup.store_url, settings.startup.store_timeout
    # The demo accounts' entitlements need a redis-py client. The embedded store is one
    # object, shared with the paywall so that both see the same data; on a real Redis the
    # paywall makes its own clients (the meter's RESP client among them).
    meter, client = (redis, redis) if redis is not None else store_clients(url, budget)
    shared = client if meter is client else None
    ledger = Ledger(client, settings.startup.store_prefix)
    now = clock or (lambda: datetime.now(UTC))
    demo_secret(settings)  # the demo's stand-in Stripe signs with it, the paywall verifies
    signing_key = secret_keys(settings.startup.secret_env)[0]
    session_key = hashlib.sha256(b"paywall-demo-session:" + signing_key.encode()).hexdigest()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await accounts.seed(DemoStripe(app, settings), ledger, now())
        if simulate_days > 0 and settings.analytics.enabled:
            today = datetime.now(UTC).astimezone(settings.timezone).date()
            end = simulate_until or today
            done = await traffic.simulate(config, client, end=end, days=simulate_days)
            if announce is not None:
                announce(done)
        yield

    return Starlette(
        routes=[
            *accounts.routes(settings.publication, settings),
            *checkout.routes(settings, now),
            Mount("/", app=build_site(settings.publication)),
        ],
        middleware=[
            Middleware(SessionMiddleware, secret_key=session_key, https_only=False),
            Middleware(AuthenticationMiddleware, backend=accounts.SessionAccounts()),
            Middleware(_paywall, config=config, redis=shared, clock=now),
        ],
        lifespan=lifespan,
    )


def _paywall(
    app: ASGIApp, config: str | Path, redis: Any, clock: Callable[[], datetime]
) -> PaywallMiddleware:
    paywall = PaywallMiddleware(app, config=config, redis=redis)
    paywall.clock = clock
    return paywall


__all__ = ["DEMO_CONFIG", "build_demo"]
