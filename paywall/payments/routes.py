"""The payments routes under `endpoints.prefix`, reached through the analytics endpoints'
dispatch: `/webhooks/stripe` (on while the signing secret is in the environment) and
`/api/entitlements` (on while the admin token is). Off, each is a 404. Every answer is
JSON, `private, no-store`; a store failure is a 503 (a sender retries)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from ..admin.auth import TokenSource
from ..exchange import header
from ..settings import Config
from .api import BadRequest, EntitlementsApi
from .ledger import Ledger
from .webhook import StripeWebhook

logger = logging.getLogger("paywall")

WEBHOOK = "/webhooks/stripe"
API = "/api/entitlements"
MAX_BODY_BYTES = 1024 * 1024  # Stripe's events are far smaller
_JSON = b"application/json"


class PaymentRoutes:
    """Claims and answers the two routes; `tokens` is the dashboard's (the admin token)."""

    def __init__(
        self, client: Any, prefix: str, clock: Callable[[], datetime], tokens: TokenSource
    ) -> None:
        ledger = Ledger(client, prefix)
        self.webhook = StripeWebhook(ledger, client, clock)
        self.api = EntitlementsApi(ledger, client, clock)
        self.tokens = tokens

    @staticmethod
    def wants(config: Config, path: str) -> bool:
        prefix = config.analytics.prefix
        return path.startswith(prefix) and path[len(prefix) :] in (WEBHOOK, API)

    async def answer(self, config: Config, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["path"].endswith(WEBHOOK):
                await self._webhook(config, scope, receive, send)
            else:
                await self._api(config, scope, receive, send)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("paywall: %s failed, the store did not answer: %s", scope["path"], exc)
            await respond(send, 503, {"error": "the store did not answer; try again"})

    async def _webhook(self, config: Config, scope: Scope, receive: Receive, send: Send) -> None:
        secret = self.webhook.secret(config)
        if secret is None:
            await respond(send, 404, {"error": "not found"})
            return
        if scope["method"] != "POST":
            await respond(send, 405, {"error": "POST only"}, [(b"allow", b"POST")])
            return
        body = await read_body(receive)
        if body is None:
            await respond(send, 413, {"error": "body too large"})
            return
        signature = header(scope, b"stripe-signature")
        outcome = await self.webhook.deliver(config, secret, body, signature)
        await send_raw(send, outcome.status, outcome.body())

    async def _api(self, config: Config, scope: Scope, receive: Receive, send: Send) -> None:
        auth = self.tokens.auth(config.analytics.admin_token_env)
        if auth is None:
            await respond(send, 404, {"error": "not found"})
            return
        if auth.bearer_ok(scope) is not True:
            challenge = [(b"www-authenticate", b'Bearer realm="paywall"')]
            await respond(send, 401, {"error": "the admin token is required"}, challenge)
            return
        try:
            if scope["method"] == "POST":
                body = await read_body(receive)
                if body is None:
                    await respond(send, 413, {"error": "body too large"})
                    return
                await respond(send, 200, await self.api.post(config, body))
            elif scope["method"] == "GET":
                await respond(send, 200, await self.api.get(scope.get("query_string", b"")))
            else:
                await respond(send, 405, {"error": "GET or POST"}, [(b"allow", b"GET, POST")])
        except BadRequest as exc:
            await respond(send, 400, {"error": str(exc), "field": exc.field})


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body; None when it is larger than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(
    send: Send, status: int, value: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_raw(send, status, json.dumps(value).encode(), headers)


async def send_raw(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw = [
        (b"content-type", _JSON),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"private, no-store"),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
