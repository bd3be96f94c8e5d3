"""A real uvicorn serving an app built in the test, on a loopback port, in a thread of the
test's process (so the test can fix the app's clock and its environment), plus the
signed-in reader an authentication middleware would make of `X-Test-Account`."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn
from starlette.authentication import SimpleUser

from .redis_server import free_port

ACCOUNT_HEADER = b"x-test-account"


class LiveServer:
    """uvicorn with `app` on 127.0.0.1; `url` is its base; `stop()` ends it."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class SignedInBy:
    """Sets `scope["user"]` from the `X-Test-Account` header, as a site's authentication
    middleware outside the paywall would."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == ACCOUNT_HEADER:
                    scope = {**scope, "user": SimpleUser(value.decode())}
        await self.app(scope, receive, send)
