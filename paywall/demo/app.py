"""The demo: the sample newspaper behind the paywall, with sign-in, ready for uvicorn."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount

from ..config import load_config
from ..connection import connect, meter_client
from ..deadline import socket_timeout
from ..entitlements import Entitlements
from ..identity import secret_keys
from ..middleware import PaywallMiddleware
from ..resp import RespClient
from . import accounts
from .site import build_site

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")


def build_demo(config: str | Path = DEMO_CONFIG, redis: Any = None) -> Starlette:
    """The demo site behind the paywall (configured by `config`), demo accounts seeded."""
    settings = load_config(config)
    url, budget = settings.startup.store_url, settings.startup.store_timeout
    meter = redis if redis is not None else meter_client(url, budget)
    # The demo accounts' entitlements need a redis-py client; the embedded store is one
    # object, shared by both so that they see the same data.
    client = connect(url, socket_timeout(budget)) if isinstance(meter, RespClient) else meter
    entitlements = Entitlements(client, settings.startup.store_prefix)
    signing_key = secret_keys(settings.startup.secret_env)[0]
    session_key = hashlib.sha256(b"paywall-demo-session:" + signing_key.encode()).hexdigest()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await accounts.seed(entitlements)
        yield

    return Starlette(
        routes=[
            *accounts.routes(settings.publication),
            Mount("/", app=build_site(settings.publication)),
        ],
        middleware=[
            Middleware(SessionMiddleware, secret_key=session_key, https_only=False),
            Middleware(AuthenticationMiddleware, backend=accounts.SessionAccounts()),
            Middleware(PaywallMiddleware, config=config, redis=meter),
        ],
        lifespan=lifespan,
    )


__all__ = ["DEMO_CONFIG", "build_demo"]
