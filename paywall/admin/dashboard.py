"""The ops dashboard at `{prefix}/admin/`, answered by the middleware before the upstream.

No admin token in the environment: every path under it is a 404. Otherwise the login form
and its post are open; everything else (pages, static files) needs the token, as a Bearer
header or the session cookie the login sets (auth.py). A page asked for without either is
sent to the login form; anything else gets a 401. Pages read the store through the
analytics read API for the chosen range (`?from=YYYY-MM-DD&to=YYYY-MM-DD`, default the 30
days to today in meter.timezone) and ship their charts' data as a JSON island.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from ..analytics import AnalyticsReader, Report
from ..analytics.keys import days as days_between
from ..exchange import header
from ..settings import Analytics, Config
from . import pages
from .auth import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
    SESSION_SECONDS,
    AdminAuth,
    TokenSource,
    cookie,
    login_nonce,
    login_nonce_ok,
    same_origin,
)
from .experiments import experiments_page
from .previews import preview_page
from .responses import (
    STATIC_TYPES,
    UPLOT_VERSION,
    data_island,
    login_style,
    read_form,
    redirect,
    respond,
    static,
    template,
)

logger = logging.getLogger("paywall")

DEFAULT_DAYS = 30
HISTORY_SHOWN = 200
_PAGES: dict[str, pages.Section] = {section.slug: section for section in pages.PAGES}
_HTML = b"text/html; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """One request to the dashboard, with what it needs to answer."""

    config: Config
    scope: Scope
    base: str  # {prefix}/admin/
    rest: str  # the path after base

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def secure(self) -> bool:
        return self.scope.get("scheme") == "https"

    def cookie(self, name: str, value: str, max_age: int) -> tuple[bytes, bytes]:
        header = cookie(name, value, path=self.base, secure=self.secure, max_age=max_age)
        return (b"set-cookie", header)


class AdminDashboard:
    """The dashboard's routes; `clock` is the middleware's (what "today" is)."""

    def __init__(self, client: Any, store_prefix: str, clock: Callable[[], datetime]) -> None:
        self.reader = AnalyticsReader(client, store_prefix)
        self.tokens = TokenSource()
        self.clock = clock

    @staticmethod
    def wants(settings: Analytics, path: str) -> bool:
        """Whether `path` is the dashboard's (cheap: checked on every request)."""
        base = settings.prefix + "/admin"
        return path.startswith(base) and (len(path) == len(base) or path[len(base)] == "/")

    async def answer(self, config: Config, scope: Scope, receive: Receive, send: Send) -> None:
        base = config.analytics.prefix + "/admin/"
        auth = self.tokens.auth(config.analytics.admin_token_env)
        if auth is None:  # no token configured: there is no dashboard
            await respond(send, 404, b"Not found\n")
            return
        if scope["path"] == base[:-1]:
            await redirect(send, base)
            return
        request = Request(config, scope, base, scope["path"][len(base) :])
        if request.rest == "login":
            await self._login(auth, request, receive, send)
        elif request.rest == "logout":
            await self._logout(auth, request, receive, send)
        else:
            await self._authenticated(auth, request, send)

    # -- signing in and out --

    async def _login(self, auth: AdminAuth, request: Request, receive: Receive, send: Send) -> None:
        scope = request.scope
        if request.method in ("GET", "HEAD"):
            if auth.session(scope) is not None:
                await redirect(send, request.base)
                return
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            message = "Signed out." if "out" in query else "Enter the admin token to continue."
            await self._login_form(request, send, 200, message, query.get("next", ""))
            return
        if request.method != "POST":
            await respond(send, 405, b"Method not allowed\n", headers=[(b"allow", b"GET, POST")])
            return
        form = await read_form(receive)
        if form is None:
            await respond(send, 413, b"Form too large\n")
            return
        if not same_origin(scope) or not login_nonce_ok(scope, form.get("nonce", "")):
            logger.info("paywall: dashboard login refused: not from the dashboard's own form")
            message = "This sign-in did not come from this page; please try again."
            await self._login_form(request, send, 403, message, form.get("next", ""), bad=True)
            return
        if not auth.token_ok(form.get("token", "")):
            logger.info("paywall: dashboard login with a wrong token")
            message = "That is not the admin token."
            await self._login_form(request, send, 401, message, form.get("next", ""), bad=True)
            return
        cookies = [
            request.cookie(SESSION_COOKIE, auth.new_session(), SESSION_SECONDS),
            request.cookie(LOGIN_COOKIE, "", 0),
        ]
        await redirect(send, _next_page(request.base, form.get("next", "")), cookies)

    async def _login_form(
        self, request: Request, send: Send, status: int, message: str, after: str, bad: bool = False
    ) -> None:
        nonce = login_nonce()
        css, style_source = login_style()
        body = template("login.html").substitute(
            style=css,
            tone="bad" if bad else "",
            message=escape(message),
            action=escape(request.base + "login"),
            nonce=nonce,
            next=escape(_next_page(request.base, after)),
        )
        await respond(
            send,
            status,
            body.encode(),
            content_type=_HTML,
            headers=[request.cookie(LOGIN_COOKIE, nonce, LOGIN_SECONDS)],
            style=style_source,
            head=request.method == "HEAD",
        )

    async def _logout(
        self, auth: AdminAuth, request: Request, receive: Receive, send: Send
    ) -> None:
        if request.method != "POST":
            await respond(send, 405, b"Method not allowed\n", headers=[(b"allow", b"POST")])
            return
        session = auth.session(request.scope)
        form = await read_form(receive) or {}
        if session is None:
            await respond(send, 401, b"Not signed in\n")
            return
        if not same_origin(request.scope) or not auth.logout_ok(session, form.get("csrf", "")):
            await respond(send, 403, b"Refused: not from the dashboard's own page\n")
            return
        cleared = [request.cookie(SESSION_COOKIE, "", 0)]
        await redirect(send, request.base + "login?out=1", cleared)

    # -- everything else needs the token --

    async def _authenticated(self, auth: AdminAuth, request: Request, send: Send) -> None:
        scope = request.scope
        bearer = auth.bearer_ok(scope)
        session = None if bearer else auth.session(scope)
        if not bearer and session is None:
            await self._refuse(request, send, bearer is False)
            return
        if request.method not in ("GET", "HEAD"):
            await respond(send, 405, b"Method not allowed\n", headers=[(b"allow", b"GET, HEAD")])
            return
        head = request.method == "HEAD"
        if request.rest.startswith("static/"):
            name = request.rest[len("static/") :]
            if name not in STATIC_TYPES:
                await respond(send, 404, b"Not found\n", head=head)
                return
            await respond(send, 200, static(name), content_type=STATIC_TYPES[name], head=head)
            return
        section = _PAGES.get(request.rest)
        if section is None:
            await respond(send, 404, b"Not found\n", head=head)
            return
        try:
            body = await self._page(request, section, session, auth)
        except RedisError as exc:
            logger.warning("paywall: dashboard could not read the store: %s", exc)
            await respond(send, 503, b"The store did not answer; try again shortly.\n", head=head)
            return
        await respond(send, 200, body, content_type=_HTML, head=head)

    async def _refuse(self, request: Request, send: Send, bad_bearer: bool) -> None:
        """A page without credentials goes to the login form; anything else is a 401."""
        page = request.rest in _PAGES and request.method in ("GET", "HEAD")
        if page and not bad_bearer:
            raw_query = request.scope.get("query_string", b"").decode("latin-1")
            target = request.scope["path"] + (f"?{raw_query}" if raw_query else "")
            await redirect(send, f"{request.base}login?{urlencode({'next': target})}")
            return
        challenge = [(b"www-authenticate", b'Bearer realm="paywall admin"')]
        await respond(send, 401, b"The admin token is needed\n", headers=challenge)

    # -- pages --

    async def _page(
        self, request: Request, section: pages.Section, session: str | None, auth: AdminAuth
    ) -> bytes:
        config = request.config
        now = self.clock()
        pairs = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"))
        query = dict(pairs)
        action = request.base + section.slug
        if section.dated:
            today = now.astimezone(config.timezone).date()
            start, end, notice = choose_range(query, today, config.analytics.retention_days)
            page = await self._content(section.slug, config, start, end)
            chosen = range_form(action, start, end, section.slug)
            if not config.analytics.enabled:
                notice += (
                    " analytics.enabled is false in the config: nothing new is being counted."
                )
        else:  # the preview page: no counts, no range
            page = preview_page(config, action, pairs, now, _origin(request))
            chosen, notice = "", ""
        kept = {name: query[name] for name in ("from", "to") if name in query}
        suffix = f"?{urlencode(kept)}" if kept else ""
        nav = "".join(
            f"<a href='{escape(request.base + s.slug + suffix)}'"
            f"{' aria-current=page' if s is section else ''}>{escape(s.name)}</a>"
            for s in pages.PAGES
        )
        logout = ""
        if session is not None:
            logout = (
                f"<form method='post' action='{escape(request.base)}logout' class='logout'>"
                f"<input type='hidden' name='csrf' value='{auth.logout_token(session)}'>"
                "<button type='submit'>Sign out</button></form>"
            )
        html = template("layout.html").substitute(
            title=escape(page.title),
            publication=escape(config.publication),
            static=escape(request.base + "static"),
            home=escape(request.base),
            nav=nav,
            logout=logout,
            range=chosen,
            notice=f"<p class='notice'>{escape(notice.strip())}</p>" if notice.strip() else "",
            main=page.main,
            uplot_version=UPLOT_VERSION,
            data=data_island({"charts": page.charts}),
        )
        return html.encode()

    async def _content(self, slug: str, config: Config, start: date, end: date) -> pages.Page:
        reader = self.reader
        configured = [offer.id for offer in config.offers]

        sharing = config.sharing.gifts.enabled or bool(config.sharing.referrals)

        def offers_page(report: Report) -> pages.Page:
            return pages.offers_page(report, configured)

        def funnel_page(report: Report) -> pages.Page:
            return pages.funnel_page(report, sharing)

        builders: dict[str, Callable[[], Awaitable[pages.Page]]] = {
            "": lambda: _with_report(reader, start, end, funnel_page),
            "sections": lambda: _with_report(reader, start, end, pages.sections_page),
            "offers": lambda: _with_report(reader, start, end, offers_page),
            "store": lambda: _with_report(reader, start, end, pages.store_page),
            "meter": lambda: self._meter(config, end),
            "config": lambda: self._config(config, start, end),
            "experiments": lambda: self._experiments(config, start, end),
        }
        return await builders[slug]()

    async def _experiments(self, config: Config, start: date, end: date) -> pages.Page:
        """Each experiment of the config as of `end`, counted from its own first day, drawn
        from `start` (or that first day, if later)."""
        report = await self.reader.report(end, end, config)
        return experiments_page(report.experiments, start)

    async def _meter(self, config: Config, day: date) -> pages.Page:
        usages = [
            (who, await self.reader.meter_usage_for(config, day, kind))
            for who, kind in (("Anonymous readers", "anonymous"), ("Signed-in readers", "account"))
        ]
        return pages.meter_page(usages)

    async def _config(self, config: Config, start: date, end: date) -> pages.Page:
        history = await self.reader.config_history(HISTORY_SHOWN)
        return pages.config_page(history, days_between(start, end), config.timezone)


async def _with_report(
    reader: AnalyticsReader, start: date, end: date, build: Callable[[Any], pages.Page]
) -> pages.Page:
    return build(await reader.report(start, end))


def choose_range(query: dict[str, str], today: date, retention_days: int) -> tuple[date, date, str]:
    """The days to show: `from`/`to` when they make sense, else the last 30 days (with a
    notice saying what was wrong)."""
    notice = ""
    try:
        end = date.fromisoformat(query["to"]) if query.get("to") else today
    except ValueError:
        end, notice = today, f"'to' is not a date like {today}; showing up to today."
    try:
        start = (
            date.fromisoformat(query["from"])
            if query.get("from")
            else end - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
        notice += f" 'from' is not a date like {today}; showing {DEFAULT_DAYS} days."
    if start > end:
        start, end = end, start
        notice += " The range was backwards; swapped."
    if (end - start).days >= retention_days:
        start = end - timedelta(days=retention_days - 1)
        notice += f" Counts are kept {retention_days} days; the range starts {start}."
    return start, end, notice


def range_form(action: str, start: date, end: date, slug: str) -> str:
    """The date range picker (a plain GET form) with shortcuts."""
    what = {
        "meter": f"Meter usage in the period holding {end}",
        "experiments": f"Each experiment counted from its first day to {end}; drawn from {start}",
    }.get(slug, f"Showing {start} to {end}")
    links = []
    for n in (7, 30, 90):
        first = end - timedelta(days=n - 1)
        query = urlencode({"from": first.isoformat(), "to": end.isoformat()})
        links.append(f"<a href='{escape(action)}?{query}'>{n} days</a>")
    shortcuts = "".join(links)
    return (
        f"<form method='get' action='{escape(action)}' class='range'>"
        f"<label>From <input type='date' name='from' value='{start}'></label>"
        f"<label>To <input type='date' name='to' value='{end}'></label>"
        f"<button type='submit'>Show</button><span class='shortcuts'>{shortcuts}</span>"
        f"<span class='what'>{what}</span></form>"
    )


def _origin(request: Request) -> str:
    """`scheme://host` the dashboard was asked on ("" for a Host that is not one), so the
    preview links shown can be copied whole."""
    host = header(request.scope, b"host")
    if not host or not host.isascii() or any(c in host for c in "/\\@ '\"<>"):
        return ""
    return f"{'https' if request.secure else 'http'}://{host}"


def _next_page(base: str, target: str) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if target.startswith(base) and "//" not in target and "\\" not in target:
        return quote(target, safe="/?&=-._~%")
    return base
