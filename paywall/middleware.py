"""The ASGI glue: route each GET to the meter, then rewrite the article page on its way out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import rewrite, routing, shapes
from .config import Access, Config, LiveConfig
from .connection import connect
from .crawlers import CrawlerVerifier
from .deadline import hard_cap, socket_timeout
from .exchange import (
    client_network_of,
    decompress,
    has_override,
    header,
    is_prefetch,
    utf8_content_type,
)
from .identity import Identified, ReaderCookie, account_of, article_id_key, secret_keys
from .overload import Busy, InFlight
from .periods import current_period
from .store import MeterStore, Outcome, StoreError, StoreOverloaded, Verdict
from .summary import degraded, summarise

logger = logging.getLogger("paywall")

_OVERRIDE = "x-paywall"
_OVERRIDE_VALUES = frozenset({"free", "metered", "premium"})
# Request headers that would let a metered page come back partial, cached or compressed.
_UNWANTED_REQUEST_HEADERS = frozenset(
    {
        b"accept-encoding",
        b"if-none-match",
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
        b"range",
    }
)
_BODY_BYPASSING_EXTENSIONS = ("http.response.pathsend", "http.response.zerocopysend")
_WALL_PROMPTS = {"trial_expired": "trial-expired", "access_expired": "access-expired"}


class PaywallMiddleware:
    """Meters article views per reader and walls readers whose free articles are used up.

    `config` is the YAML file; `redis` an optional redis.asyncio client (else
    `store.url`, else the embedded in-memory store).
    """

    def __init__(self, app: ASGIApp, config: str | Path, redis: Any = None) -> None:
        self.app = app
        self.live = LiveConfig(config)
        first = self.live.config
        self._keys = secret_keys(first.secret_env)
        timeout = socket_timeout(first.store_timeout)  # the budget itself is RedisBudget's
        client = redis if redis is not None else connect(first.store_url, timeout)
        self.store = MeterStore(
            client,
            first.store_prefix,
            first.store_timeout,
            first.store_breaker_seconds,
            id_key=article_id_key(self._keys),
        )
        self.crawlers = CrawlerVerifier()
        self.in_flight = InFlight()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._cookie_for: tuple[Config, ReaderCookie] | None = None
        self._pages = rewrite.PageCuts(first.page_cache_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.live.current()
        await _PaywallResponder(self, config, scope)(receive, send)

    def pages(self, config: Config) -> rewrite.PageCuts:
        """The cache of page cuts, sized by the live config."""
        self._pages.budget = config.page_cache_bytes
        return self._pages

    def cookie(self, config: Config) -> ReaderCookie:
        """The cookie signer for this config version (name and flags may change on reload)."""
        if self._cookie_for is None or self._cookie_for[0] is not config:
            cookie = ReaderCookie(
                self._keys,
                config.cookie_name,
                secure=config.cookie_secure,
                max_age=config.cookie_max_age,
            )
            self._cookie_for = (config, cookie)
        return self._cookie_for[1]


@dataclass(frozen=True)
class _Plan:
    """What one view gets: a prompt or none, and whether the article is walled."""

    prompt: str | None
    walled: bool
    context: dict[str, Any]


_FULL_ARTICLE = _Plan(None, False, {})  # no prompt, nothing hidden


class _PaywallResponder:
    """The state of one GET request as its response passes through."""

    def __init__(self, paywall: PaywallMiddleware, config: Config, scope: Scope) -> None:
        self.paywall = paywall
        self.config = config
        self.scope = scope
        self.path = scope["path"]
        self.path_access = routing.access_of(config, scope)
        self.send: Send = _unset_send
        self.passthrough = True
        self.discard = False
        self.start: Message = {}
        self.headers = MutableHeaders()
        self.chunks: list[bytes] = []
        self.size = 0
        self.plan: _Plan | None = None
        self.finished = False

    async def __call__(self, receive: Receive, send: Send) -> None:
        self.send = send
        scope = self.scope
        if self.path_access != "free":
            headers = [(k, v) for k, v in scope["headers"] if k not in _UNWANTED_REQUEST_HEADERS]
            headers.append((b"accept-encoding", b"identity"))
            scope = {**scope, "headers": headers}
            if scope.get("extensions"):  # no sending files past the paywall
                extensions = dict(scope["extensions"])
                for name in _BODY_BYPASSING_EXTENSIONS:
                    extensions.pop(name, None)
                scope["extensions"] = extensions
        await self.paywall.app(scope, receive, self.send_wrapper)
        if not self.passthrough and not self.finished:
            await self.finish()

    async def send_wrapper(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self.on_start(message)
        elif self.passthrough or message["type"] != "http.response.body":
            await self.send(message)
        elif not self.discard:
            await self.on_body(message)

    async def on_start(self, message: Message) -> None:
        if self.path_access == "free" and not has_override(message["headers"]):
            await self.send(message)  # the common case, kept cheap: a free page as it is
            return
        # Some frameworks (Django) send "Content-Type"; Starlette looks headers up lower-case.
        headers = MutableHeaders(raw=[(k.lower(), v) for k, v in message["headers"]])
        access: Access = self.path_access
        override = headers.get(_OVERRIDE)
        if override is not None:
            del headers[_OVERRIDE]
            message = {**message, "headers": headers.raw}
            value = override.strip().lower()
            if value in _OVERRIDE_VALUES:
                access = value  # type: ignore[assignment]
        content_type = headers.get("content-type", "")
        status = message["status"]
        if access == "free":
            await self.send(message)
            return
        self.start, self.headers = message, headers
        pass_types = self.config.pass_types
        if shapes.passes(status, content_type, headers.get("content-length"), pass_types):
            if not shapes.type_passes(shapes.media_type(content_type), pass_types):
                self.personalise_headers(None)  # a redirect or error page: never cached publicly
            await self.send(self.start)
            return
        if not shapes.is_view(status, content_type):
            await self.other_shape(access)
            return
        method = self.scope["method"]
        if method == "HEAD":  # never counted, never rewritten, but never cached as public
            self.personalise_headers(None)
            await self.send(self.start)
            return
        if method != "GET":
            access = "premium"  # a POST answered with the article is not a view: no count
        if is_prefetch(self.scope["headers"]):
            await self.refuse_prefetch()
            return
        identified = await self.plan_view(access)
        if self.finished:
            return
        assert self.plan is not None
        self.personalise_headers(identified)
        if self.plan.prompt is None and not self.config.structured_data:
            await self.send(self.start)  # nothing to change in the body: stream it as it comes
            return
        self.passthrough = False

    async def other_shape(self, access: Access) -> None:
        """A gated response that is not an HTML view (JSON, a feed, no Content-Type, a 206 or
        304...): metered like a view, sent as it is to a reader who may read the article and
        replaced by a 402 for a walled one; HEAD gets the headers alone, uncounted."""
        method = self.scope["method"]
        if method == "HEAD":
            self.personalise_headers(None)
            await self.send(self.start)
            await self.send({"type": "http.response.body", "body": b""})
            self.passthrough, self.discard, self.finished = False, True, True
            return
        if method != "GET":
            access = "premium"  # as for pages: another method is never a counted view
        if is_prefetch(self.scope["headers"]):
            await self.refuse_prefetch()
            return
        identified = await self.plan_view(access)
        if self.finished:
            return
        assert self.plan is not None
        if self.plan.walled:
            await self.refuse(identified)
            return
        self.personalise_headers(identified)
        await self.send(self.start)  # counted (or entitled, or a crawler): the body streams on

    async def plan_view(self, access: Access) -> Identified | None:
        """Sets the plan of this view: a verified crawler reads in full, uncounted and without
        a cookie; anyone else is metered. Returns who to set the cookie for."""
        client = self.scope.get("client")
        crawler = await self.paywall.crawlers.verify(
            self.config.crawlers, header(self.scope, b"user-agent"), client[0] if client else None
        )
        if crawler is not None:
            self.plan = _FULL_ARTICLE  # full article, not counted, no cookie
            return None
        identified = self.paywall.cookie(self.config).identify(
            self.scope["headers"], account_of(self.scope)
        )
        try:
            self.plan, identified = await self.meter(identified, access)
        except Busy as busy:  # too many views in flight: 429/503, no article, no count
            await busy.send(self.send)
            self.passthrough, self.discard, self.finished = False, True, True
            return None
        return identified

    async def refuse(self, identified: Identified | None) -> None:
        """402 for a walled reader: why and where to subscribe, none of the upstream's body."""
        assert self.plan is not None and self.plan.prompt is not None
        as_json = shapes.wants_json(
            header(self.scope, b"accept"), self.headers.get("content-type", "")
        )
        body, content_type = shapes.refusal(self.plan.prompt, self.plan.context, as_json)
        headers = MutableHeaders(
            raw=[(k, v) for k, v in self.headers.raw if k == b"set-cookie"]  # the site's own
        )
        headers["content-type"] = content_type.decode()
        headers["content-length"] = str(len(body))
        headers["cache-control"] = "private, no-store"
        headers["vary"] = "Cookie"
        if identified is not None and identified.cookie is not None:
            cookie = self.paywall.cookie(self.config).header(identified.cookie)
            headers.append("set-cookie", cookie.decode("latin-1"))
        await self.send({"type": "http.response.start", "status": 402, "headers": headers.raw})
        await self.send({"type": "http.response.body", "body": body})
        self.passthrough, self.discard, self.finished = False, True, True

    async def meter(self, identified: Identified, access: Access) -> tuple[_Plan, Identified]:
        """Ask the store about this view; returns the plan, and who to set the cookie for.

        Raises Busy when the reader or the process has too many views in flight, or when
        this process was too slow to hear the store (see paywall/overload.py). When the
        store is down, the reader's signed summary decides if it can (paywall/summary.py),
        else on_store_error; a verdict from the store updates the summary."""
        config = self.config
        now = self.paywall.clock()
        period = current_period(config.period, config.timezone, now)
        signed_in = identified.reader.account is not None
        store = self.paywall.store
        summaries = self.paywall.cookie(config).summary
        last, signed_now = summaries.read(self.scope["headers"])
        try:
            async with self.paywall.in_flight.slot(
                identified.reader.tag,
                per_reader=config.reader_in_flight,
                per_process=config.process_in_flight,
                wait=hard_cap(store.timeout),
            ):
                merge = []
                if identified.merge_from is not None:
                    merge = await store.anonymous_views(identified.merge_from, period)
                start_used = False
                cap = config.new_readers_per_network
                if identified.new and not signed_in and cap > 0:
                    network = client_network_of(self.scope)
                    if network is not None:
                        start_used = await store.new_reader_from(network, period, now) > cap
                verdict = await store.view(
                    identified.reader,
                    routing.article_key(self.scope, config.article_query),
                    premium=access == "premium",
                    limit=config.limit_for(signed_in),
                    period=period,
                    now=now,
                    merge=merge,
                    start_used=start_used,
                )
        except StoreError as exc:
            # The store logs each outage once; a line per request would flood the log.
            logger.debug("paywall: store unavailable (%s); on_store_error", exc)
            if identified.merge_from is not None:  # not merged: try again next time
                identified = replace(identified, cookie=None)
            decided = degraded(last, identified.reader, period, now, access == "premium")
            if decided is not None:  # walled stays walled, a paid plan keeps reading
                verdict = decided
            elif isinstance(exc, StoreOverloaded):  # we were slow, not Redis: no open wall
                raise Busy(503, str(exc)) from exc
            elif config.on_store_error == "open" and access == "metered":
                return _FULL_ARTICLE, identified
            else:
                verdict = Verdict(Outcome.PREMIUM_WALLED, 0, "none")
        else:
            limit = config.limit_for(signed_in)
            summary = summarise(verdict, identified.reader, period, limit, last)
            if summary != last or not signed_now:
                identified = replace(identified, summary=summaries.header(summary))
        return self.plan_for(verdict, signed_in, now), identified

    def plan_for(self, verdict: Verdict, signed_in: bool, now: datetime) -> _Plan:
        outcome = verdict.outcome
        if outcome in (Outcome.ALREADY_READ, Outcome.ENTITLED):
            return _FULL_ARTICLE
        config = self.config
        limit = config.limit_for(signed_in)
        left = max(limit - verdict.views, 0)
        if not signed_in:
            audience = "anonymous"
        else:
            audience = verdict.status if verdict.status in _WALL_PROMPTS else "registered"
        context = {
            "numberArticlesLeft": left,
            "numberArticlesLeft-plural": "" if left == 1 else "s",
            "publication": config.publication,
            "limit": limit,
            "limit-plural": "" if limit == 1 else "s",
            "limitUsed": outcome == Outcome.LIMIT_USED,
            "period": config.period,
            "subscribe_url": config.subscribe_url,
            "register_url": config.register_url,
            "offers": config.offers_for(audience, now.astimezone(config.timezone).date()),
        }
        if outcome == Outcome.COUNTED:
            return _Plan("meter" if left >= 1 else "last-free", False, context)
        if outcome == Outcome.LIMIT_USED and not signed_in and config.registration_wall:
            return _Plan("register", True, context)
        return _Plan(_WALL_PROMPTS.get(verdict.status, "subscribe"), True, context)

    async def refuse_prefetch(self) -> None:
        """Prefetches and prerenders spend no free view and get no article: a non-2xx answer
        makes the browser drop the speculation and fetch (and meter) the real navigation."""
        body = b"Metered articles are not served to prefetch or prerender requests.\n"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await self.send({"type": "http.response.start", "status": 503, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})
        self.passthrough, self.discard, self.finished = False, True, True

    def personalise_headers(self, identified: Identified | None) -> None:
        headers = self.headers
        directives = ["private", "no-cache"]
        if "no-store" in headers.get("cache-control", "").lower():
            directives.append("no-store")
        headers["cache-control"] = ", ".join(directives)
        headers.add_vary_header("Cookie")
        for name in ("etag", "last-modified"):
            if name in headers:
                del headers[name]
        if identified is not None and identified.cookie is not None:
            cookie = self.paywall.cookie(self.config).header(identified.cookie)
            headers.append("set-cookie", cookie.decode("latin-1"))
        if identified is not None and identified.summary is not None:
            headers.append("set-cookie", identified.summary)
        self.start = {**self.start, "headers": headers.raw}

    async def on_body(self, message: Message) -> None:
        chunk = message.get("body", b"")
        self.chunks.append(chunk)
        self.size += len(chunk)
        more_body = message.get("more_body", False)
        if self.size > self.config.max_page_bytes:
            await self.give_up_on_size(more_body)
        elif not more_body:
            await self.finish()

    async def give_up_on_size(self, more_body: bool) -> None:
        """A page too big to rewrite: walled readers get the prompt alone, others the page as is."""
        assert self.plan is not None
        logger.warning("paywall: %s is over content.max_page_kb; not rewritten", self.scope["path"])
        if self.plan.walled:
            await self.send_page(self.standalone())
            self.discard = True
        else:
            await self.send(self.start)
            body = b"".join(self.chunks)
            await self.send({"type": "http.response.body", "body": body, "more_body": more_body})
            self.passthrough = True
        self.chunks = []
        self.finished = True

    async def finish(self) -> None:
        self.finished = True
        body = b"".join(self.chunks)
        self.chunks = []
        try:
            page = self.rewritten(body)
        except Exception:
            logger.exception("paywall: could not rewrite %s", self.scope["path"])
            page = None
        if page is None:
            assert self.plan is not None
            if self.plan.walled:
                page = self.standalone()
            else:
                await self.send(self.start)
                await self.send({"type": "http.response.body", "body": body})
                return
        await self.send_page(page)

    def rewritten(self, body: bytes) -> bytes | None:
        """The page with its prompt in place, as UTF-8, or None when it can't be rewritten."""
        assert self.plan is not None
        plan, config = self.plan, self.config
        coding = self.headers.get("content-encoding", "identity").strip().lower()
        if coding != "identity":
            body = decompress(body, coding)
        options = rewrite.CutOptions(
            selector=config.article,
            walled=plan.walled,
            teaser_paragraphs=0 if self.later_page() else config.teaser_paragraphs,
            teaser_max_words=config.teaser_max_words,
            declare_paywall=config.structured_data,
        )
        content_type = self.headers.get("content-type", "")
        cut = self.paywall.pages(config).cut(body, content_type, options)
        if cut is None:
            logger.warning("paywall: no %r element in %s", config.article.text, self.path)
            return None
        if "content-encoding" in self.headers:  # only now: a page not rewritten goes as it came
            del self.headers["content-encoding"]
        self.headers["content-type"] = utf8_content_type(content_type)
        return cut.join(self.render() if plan.prompt else "")

    def later_page(self) -> bool:
        """A page after the first of a paginated article: walled readers get no teaser."""
        name = self.config.page_param
        if name is None or not self.scope.get("query_string"):
            return False
        query = parse_qs(self.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        return any(value.strip() not in ("", "1") for value in query.get(name, ()))

    def render(self) -> str:
        assert self.plan is not None and self.plan.prompt is not None
        return self.config.prompts.render(self.plan.prompt, self.plan.context)

    def standalone(self) -> bytes:
        if "content-encoding" in self.headers:
            del self.headers["content-encoding"]
        self.headers["content-type"] = "text/html; charset=utf-8"
        return rewrite.standalone_page(self.render(), self.config.publication)

    async def send_page(self, page: bytes) -> None:
        self.headers["content-length"] = str(len(page))
        await self.send({**self.start, "headers": self.headers.raw})
        await self.send({"type": "http.response.body", "body": page})


async def _unset_send(message: Message) -> None:
    raise RuntimeError("send used before the request started")
