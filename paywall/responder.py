"""The way back up: one gated request's response as its decision says.

`PaywallResponder` holds one request's state (one state field, `State`): it takes the
upstream's start message, decides the view on it (metering.py), and sends the response on
as it came, made private, refused (402, 429, 503) or buffered and rewritten (rewrite.py).
`FreePage` passes a free path's response through untouched unless the upstream's X-Paywall
gates it.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import rewrite, shapes
from .analytics.recorder import Recorder
from .decision import Decision, Result, who_is
from .exchange import decompress, has_override, header, is_prefetch, utf8_content_type
from .experiments.assign import Variant
from .headers import ResponseHeaders
from .identity import Identified, account_of
from .metering import Tools, decide_view
from .names import Prompt
from .overload import Busy
from .settings import ACCESS_LEVELS, Access, Config, Rule
from .shapes import Shape

if TYPE_CHECKING:
    from .middleware import PaywallMiddleware

logger = logging.getLogger("paywall")

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


class State(enum.Enum):
    PASSING = "passing"  # the upstream's messages go out as they come
    BUFFERING = "buffering"  # a page being collected to rewrite
    DISCARDING = "discarding"  # we answered ourselves (402, 429, 503…): the upstream's body goes
    DONE = "done"  # the rewritten page went out


class FreePage:
    """A request on a free path: its messages go out as they come, unless the upstream's
    X-Paywall gates the response, which a `PaywallResponder` then takes over."""

    __slots__ = ("_config", "_middleware", "_responder", "_scope", "_send")

    def __init__(
        self, middleware: PaywallMiddleware, config: Config, scope: Scope, send: Send
    ) -> None:
        self._middleware = middleware
        self._config = config
        self._scope = scope
        self._send = send
        self._responder: PaywallResponder | None = None

    async def send(self, message: Message) -> None:
        if self._responder is not None:
            await self._responder.send_wrapper(message)
        elif message["type"] == "http.response.start" and has_override(message["headers"]):
            config = self._config
            tools = self._middleware.tools(config)
            middleware = self._middleware
            self._responder = PaywallResponder(
                middleware.app, config, tools, self._scope, "free", None, middleware.analytics
            )
            self._responder.send = self._send
            await self._responder.send_wrapper(message)
        else:
            await self._send(message)

    async def finish(self) -> None:
        """After the upstream returns: a page gated by X-Paywall whose upstream stopped
        without a last message still gets its rewritten response."""
        if self._responder is not None and self._responder.state is State.BUFFERING:
            await self._responder.finish()


class PaywallResponder:
    """One HTTP request on a gated path (or made gated by X-Paywall) as its response passes
    through."""

    def __init__(
        self,
        app: ASGIApp,
        config: Config,
        tools: Tools,
        scope: Scope,
        path_access: Access,
        rule: Rule | None,
        analytics: Recorder,
    ) -> None:
        self.app = app
        self.analytics = analytics
        self.section: str | None = None  # a counted view's section, for its offer links
        self.config = config
        self.tools = tools
        self.scope = scope
        self.path_access = path_access
        self.rule = rule  # the first the path matches (its section, for analytics)
        self.state = State.PASSING
        self.send: Send = _unset_send
        self.start: Message = {}
        self.headers = ResponseHeaders([])
        self.chunks: list[bytes] = []
        self.size = 0
        self.decision: Decision | None = None

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
        await self.app(scope, receive, self.send_wrapper)
        if self.state is State.BUFFERING:  # the upstream stopped without a last message
            await self.finish()

    async def send_wrapper(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self.on_start(message)
        elif self.state is State.PASSING:
            await self.send(message)
        elif kind == "http.response.body":
            if self.state is State.BUFFERING:
                await self.on_body(message)
        elif kind not in _BODY_BYPASSING_EXTENSIONS:  # a file sent past us is a body too
            await self.send(message)

    async def on_start(self, message: Message) -> None:
        access = self.read_start(message)
        status, content_type = message["status"], self.headers.get(b"content-type") or ""
        config = self.config
        length = self.headers.get(b"content-length")
        query = self.scope.get("query_string", b"").decode("latin-1")
        method = self.scope["method"]
        shape = shapes.shape_of(status, content_type, length, config.pass_types, query, method)
        if access == "free" or shape is Shape.ASSET:
            await self.send_start()
            return
        if shape is Shape.NO_ARTICLE:  # a redirect or error page: never cached publicly
            self.personalise_headers(None)
            await self.send_start()
            return
        if method == "HEAD":
            await self.answer_head()
            return
        if is_prefetch(self.scope["headers"]):
            await self.refuse_prefetch(access)
            return
        try:
            # A POST answered with the article is not a view: walled like premium, no count.
            count = method == "GET"
            viewed = await decide_view(
                self.tools, config, self.scope, access, count=count, path_access=self.path_access
            )
        except Busy as busy:  # too many views in flight: 429/503, no article, no count
            logger.debug("paywall: %s view refused: %d %s", access, busy.status, busy)
            await busy.send(self.send)
            self.state = State.DISCARDING
            return
        decision = self.decision = viewed.decision
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("paywall: %s", decision.describe())
        if count and not decision.preview:  # a view (a GET): counted by analytics
            path = self.scope["path"]
            self.section = self.analytics.view(config, decision, path, viewed.now, self.rule)
        if shape is Shape.OTHER and decision.walled:
            await self.refuse(decision, viewed.identified)
            return
        self.personalise_headers(viewed.identified)
        if shape is Shape.PAGE and (decision.prompt is not None or config.structured_data):
            self.state = State.BUFFERING
        else:  # nothing to change in the body: it streams on as it comes
            await self.send_start()

    def read_start(self, message: Message) -> Access:
        """Keep the upstream's start message and headers; returns the access that applies
        (the rule's, unless the upstream's X-Paywall names another)."""
        self.start, self.headers = message, ResponseHeaders(message["headers"])
        access: Access = self.path_access
        override = self.headers.override
        if override is not None:
            value = override.strip().lower()
            access = next((level for level in ACCESS_LEVELS if level == value), access)
        return access

    async def send_start(self) -> None:
        """The upstream's start message, with the headers as the paywall leaves them."""
        await self.send({**self.start, "headers": self.headers.raw()})

    async def answer_head(self) -> None:
        """A HEAD is never counted, never has a body and is never cached as public; the
        full page's length is not the reader's business either."""
        self.headers.set(b"content-length", None)
        self.personalise_headers(None)
        await self.answer({**self.start, "headers": self.headers.raw()}, b"")

    async def answer(self, start: Message, body: bytes) -> None:
        """Send a whole response of our own; anything more from the upstream is dropped."""
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})
        self.state = State.DISCARDING

    async def refuse(self, decision: Decision, identified: Identified | None) -> None:
        """402 for a walled reader: why and where to subscribe, none of the upstream's body."""
        assert decision.prompt is not None and decision.context is not None
        as_json = shapes.wants_json(
            header(self.scope, b"accept"), self.headers.get(b"content-type") or ""
        )
        body, content_type = shapes.refusal(decision.prompt, decision.context, as_json)
        headers = [(k, v) for k, v in self.headers.others if k == b"set-cookie"]  # the site's own
        headers += [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"private, no-store"),
            (b"vary", b"Cookie"),
        ]
        if identified is not None and identified.cookie is not None:
            headers.append((b"set-cookie", self.tools.cookies.header(identified.cookie)))
        if identified is not None and identified.summary is not None:  # its experiment marks
            headers.append((b"set-cookie", identified.summary.encode("latin-1")))
        start = {"type": "http.response.start", "status": 402, "headers": headers}
        await self.answer(start, body)

    async def refuse_prefetch(self, access: Access) -> None:
        """Prefetches and prerenders spend no free view and get no article: a non-2xx answer
        makes the browser drop the speculation and fetch (and meter) the real navigation."""
        who = who_is(account_of(self.scope) is not None)
        self.decision = Decision(who, access, Result.PREFETCH)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("paywall: %s", self.decision.describe())
        self.analytics.view(self.config, self.decision, self.scope["path"])
        body = b"Metered articles are not served to prefetch or prerender requests.\n"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"private, no-store"),
            (b"vary", b"Cookie"),
        ]
        await self.answer({"type": "http.response.start", "status": 503, "headers": headers}, body)

    def personalise_headers(self, identified: Identified | None) -> None:
        """Make the response one reader's (headers.py), with the reader's cookies."""
        self.headers.personalise()
        decision = self.decision
        if decision is not None and (decision.preview or decision.result is Result.GIFT):
            # An editor's preview, or a gift link's token in the URL: not for search engines,
            # and the token not sent on to other sites in a Referer.
            self.headers.set(b"x-robots-tag", "noindex")
            self.headers.set(b"referrer-policy", "same-origin")
        if identified is not None and identified.cookie is not None:
            self.headers.cookies.append(self.tools.cookies.header(identified.cookie))
        if identified is not None and identified.summary is not None:
            self.headers.cookies.append(identified.summary.encode("latin-1"))

    # -- the way back up for pages: buffered, then rewritten --

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
        assert self.decision is not None
        logger.warning("paywall: %s is over content.max_page_kb; not rewritten", self.scope["path"])
        body, self.chunks = b"".join(self.chunks), []
        if self.decision.walled:
            await self.send_page(self.standalone())
            self.state = State.DISCARDING
        else:
            self.state = State.PASSING
            await self.send_start()
            await self.send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def finish(self) -> None:
        assert self.decision is not None
        self.state = State.DONE
        body, self.chunks = b"".join(self.chunks), []
        try:
            page = self.rewritten(body)
        except Exception:
            logger.exception("paywall: could not rewrite %s", self.scope["path"])
            page = None
        if page is None and self.decision.walled:
            page = self.standalone()
        if page is None:
            await self.send_start()
            await self.send({"type": "http.response.body", "body": body})
        else:
            await self.send_page(page)

    def rewritten(self, body: bytes) -> bytes | None:
        """The page with its prompt in place, as UTF-8, or None when it can't be rewritten."""
        assert self.decision is not None
        decision, config = self.decision, self.config
        coding = (self.headers.get(b"content-encoding") or "identity").strip().lower()
        if coding != "identity":
            body = decompress(body, coding)
        options = self.cut_options(decision.walled, self.later_page(), decision.variant)
        content_type = self.headers.get(b"content-type") or ""
        cut = self.tools.pages.cut(body, content_type, options)
        if cut is None:
            logger.warning("paywall: no %r element in %s", config.article.text, self.scope["path"])
            return None
        # Only now: a page not rewritten goes as it came.
        self.headers.set(b"content-encoding", None)
        self.headers.set(b"content-type", utf8_content_type(content_type))
        return cut.join(self.render() if decision.prompt else "")

    def cut_options(
        self, walled: bool, later_page: bool, variant: Variant | None = None
    ) -> rewrite.CutOptions:
        """How this kind of view cuts pages: built once per config version (and teaser
        length, which an experiment arm may set), not per view."""
        teaser = self.config.teaser_paragraphs
        if variant is not None and variant.teaser_paragraphs is not None:
            teaser = variant.teaser_paragraphs
        options = self.tools.cut_options.get((walled, later_page, teaser))
        if options is None:
            config = self.config
            options = self.tools.cut_options[(walled, later_page, teaser)] = rewrite.CutOptions(
                selector=config.article,
                walled=walled,
                teaser_paragraphs=0 if later_page else teaser,
                teaser_max_words=config.teaser_max_words,
                declare_paywall=config.structured_data,
            )
        return options

    def later_page(self) -> bool:
        """A page after the first of a paginated article: walled readers get no teaser."""
        name = self.config.page_param
        if name is None or not self.scope.get("query_string"):
            return False
        query = parse_qs(self.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        return any(value.strip() not in ("", "1") for value in query.get(name, ()))

    def render(self) -> str:
        decision = self.decision
        assert decision is not None and decision.prompt is not None and decision.context
        context = self.analytics.prompt_context(decision, self.section)  # counted links
        variant = decision.variant
        prompts = self.config.prompts
        if variant is not None and variant.prompts is not None:  # an arm's own wording
            prompts = variant.prompts
        if decision.prompt is Prompt.GIFT:  # one per article: not worth keeping rendered
            return prompts.render(decision.prompt, context.variables())
        return prompts.render(decision.prompt, context)

    def standalone(self) -> bytes:
        self.headers.set(b"content-encoding", None)
        self.headers.set(b"content-type", "text/html; charset=utf-8")
        return rewrite.standalone_page(self.render(), self.config.publication)

    async def send_page(self, page: bytes) -> None:
        self.headers.set(b"content-length", str(len(page)))
        await self.send_start()
        await self.send({"type": "http.response.body", "body": page})


async def _unset_send(message: Message) -> None:
    raise RuntimeError("send used before the request started")
