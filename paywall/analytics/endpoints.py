"""What the middleware answers itself under `endpoints.prefix`, before the upstream app:
offer clicks (`{prefix}/o/{offer}?r=REF`) and Prometheus metrics (`{prefix}/metrics`); and
the lifespan shutdown, when what a worker counted is written out.

A click is counted only with a ref we signed for that offer; any click on a known offer is
redirected (303) to the offer's URL, with `paywall_ref=REF` added when the ref is good. An
unknown offer is a 404. Both answers are `private, no-store`: a cached redirect would skip
the count.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from ..admin import AdminDashboard
from ..config import LiveConfig
from ..payments.routes import PaymentRoutes
from ..settings import Config
from ..sharing.routes import GiftRoutes
from .history import ConfigChange
from .metrics import CONTENT_TYPE, PrometheusMetrics
from .recorder import Recorder

logger = logging.getLogger("paywall")

REF_PARAMETER = "paywall_ref"
_NO_STORE = (b"cache-control", b"private, no-store")


class Endpoints:
    """The paywall's own routes, and what it does at start-up and shutdown."""

    def __init__(
        self, recorder: Recorder, live: LiveConfig, client: Any, prefix: str, keys: list[str]
    ) -> None:
        self.recorder = recorder
        self.client = client
        self.store_prefix = prefix
        self.metrics: PrometheusMetrics | None = None
        self.live = live
        self.admin = AdminDashboard(client, prefix, recorder.clock)  # {prefix}/admin/
        # {prefix}/webhooks/stripe, {prefix}/api/entitlements
        self.payments = PaymentRoutes(client, prefix, recorder.clock, self.admin.tokens)
        self.gifts = GiftRoutes(client, prefix, keys, recorder.clock, recorder)  # {prefix}/gift
        live.listeners.append(self.config_changed)
        self.config_changed(live.started)

    def config_changed(self, change: ConfigChange) -> None:
        """A start or reload: the history, the reload counter, the live hash."""
        config = self.live.config
        if config.analytics.enabled:
            self.recorder.config_changed(change)
        if config.analytics.metrics and self.metrics is None:
            self.metrics = self.recorder.metrics = PrometheusMetrics()
        if self.metrics is not None:
            result = None if change.result == "start" else change.result
            self.metrics.config(self.live.hash, result)

    def wants(self, config: Config, path: str) -> bool:
        """Whether `path` is one of ours under this config (cheap: checked per request)."""
        settings = config.analytics
        if not path.startswith(settings.prefix):  # every other path: one comparison
            return False
        if self.admin.wants(settings, path) or self.payments.wants(config, path):
            return True
        if self.gifts.wants(config, path):
            return True
        if not settings.serves:
            return False
        rest = path[len(settings.prefix) :]
        if rest == "/metrics":
            return settings.metrics
        return settings.enabled and rest.startswith("/o/") and len(rest) > 3

    async def answer(self, config: Config, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request `wants` claimed."""
        rest = scope["path"][len(config.analytics.prefix) :]
        if self.admin.wants(config.analytics, scope["path"]):
            await self.admin.answer(config, scope, receive, send)
        elif self.payments.wants(config, scope["path"]):
            await self.payments.answer(config, scope, receive, send)
        elif self.gifts.wants(config, scope["path"]):
            await self.gifts.answer(config, scope, receive, send)
        elif scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method not allowed\n", [(b"allow", b"GET, HEAD")])
        elif rest == "/metrics":
            await self._metrics(send)
        else:
            await self._click(config, scope, rest[len("/o/") :], send)

    async def _click(self, config: Config, scope: Scope, offer_id: str, send: Send) -> None:
        offer = next((offer for offer in config.offers if offer.id == offer_id), None)
        if offer is None:
            await _respond(send, 404, b"No such offer\n")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        text = query.get("r", "")
        ref = self.recorder.refs.read(text)
        url = str(offer.context["url"])
        if ref is not None and ref.offer == offer_id:
            if scope["method"] == "GET":  # a HEAD is not a click
                self.recorder.click(ref)
            url = with_parameter(url, REF_PARAMETER, text)
        elif text:
            logger.info(
                "paywall: click on offer %s with a ref we did not sign: not counted", offer_id
            )
        await _respond(send, 303, b"", [(b"location", url.encode("latin-1", "replace"))])

    async def _metrics(self, send: Send) -> None:
        metrics = self.metrics
        if metrics is None:  # enabled by a reload: created on the next change; not yet
            await _respond(send, 404, b"Not found\n")
            return
        try:
            body = await metrics.exposition(self.client, self.store_prefix)
        except Exception as exc:  # the store is down: a scrape failing is what Prometheus wants
            logger.warning("paywall: metrics scrape failed: %s", exc)
            await _respond(send, 503, b"Metrics unavailable: the store did not answer\n")
            return
        await _respond(send, 200, body, content_type=CONTENT_TYPE.encode())

    async def shutdown(self) -> None:
        """Write out what this worker counted; its live gauges stop counting."""
        await self.recorder.aclose()
        if self.metrics is not None:
            self.metrics.close()

    async def lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan to `app`, flushing on shutdown; if `app` does not speak lifespan
        (it raises or returns before the start-up message), answer it ourselves."""
        await serve_lifespan(app, scope, receive, send, self.shutdown)


async def serve_lifespan(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    on_shutdown: Callable[[], Awaitable[None]],
) -> None:
    started = False

    async def watched() -> Any:
        nonlocal started
        message = await receive()
        if message["type"] == "lifespan.startup":
            started = True
        elif message["type"] == "lifespan.shutdown":
            await _quietly(on_shutdown)  # before the app closes what we write with
        return message

    try:
        await app(scope, watched, send)
    except Exception:
        if started:
            raise
        logger.debug("paywall: the app does not support lifespan; the paywall answers it")
    if started:
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _quietly(on_shutdown)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _quietly(call: Callable[[], Awaitable[None]]) -> None:
    try:
        await call()
    except Exception:  # a failed flush must not fail the server's shutdown
        logger.exception("paywall: flushing analytics at shutdown failed")


def with_parameter(url: str, name: str, value: str) -> str:
    """`url` with `name=value` added to its query (its fragment kept)."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({name: value})))


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"text/plain; charset=utf-8",
) -> None:
    raw = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        _NO_STORE,
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
