"""The tests' sample article site behind the paywall, importable by uvicorn for multi-worker runs.

    PAYWALL_TEST_CONFIG=/path/paywall.yaml PAYWALL_SECRET_KEYS=k \\
        uvicorn tests.workers_app:app --workers 2

The store is the config's `store.url` (no `redis=` client is passed). Every response carries
`X-Worker-Pid` so a test can tell which worker process served it. `PAYWALL_TEST_NOW` (an
ISO time) fixes the paywall's clock, so counts land on a known day.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from paywall import PaywallMiddleware

from .conftest import article_site

CONFIG_ENV = "PAYWALL_TEST_CONFIG"
NOW_ENV = "PAYWALL_TEST_NOW"
PID_HEADER = b"x-worker-pid"


class WorkerPid:
    """Adds `X-Worker-Pid: <os.getpid()>` to every HTTP response of the wrapped app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pid = str(os.getpid()).encode()

        async def send_with_pid(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (PID_HEADER, pid)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_pid)


def build(config: str | None = None) -> WorkerPid:
    path = config or os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"tests.workers_app: set {CONFIG_ENV} to the paywall config file")
    paywall = PaywallMiddleware(article_site, config=path)
    fixed = os.environ.get(NOW_ENV)
    if fixed:
        now = datetime.fromisoformat(fixed)
        paywall.clock = lambda: now
    return WorkerPid(paywall)


app = build() if os.environ.get(CONFIG_ENV) else None
