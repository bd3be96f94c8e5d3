"""The way down for one view: who is reading, the meter in Redis, the decision.

`decide_view` is everything between the rule (routing.py) and the response: a verified
crawler reads in full; anyone else is identified by cookie or account and metered by one
EVALSHA (after SMEMBERS on a first sign-in, or the new-reader count when that cap is on),
within the bounds on views in flight; when the store cannot answer, the
reader's signed summary or `on_store_error` decides. What comes out is one `Decision`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import quote

from starlette.types import Scope

from . import routing
from .crawlers import CrawlerVerifier
from .deadline import hard_cap
from .decision import Decision, Result, Who, decide, gift_control, who_is
from .exchange import client_network_of, header
from .experiments.assign import Variant
from .identity import Identified, ReaderCookie, account_of
from .names import Audience, Status
from .overload import Busy, InFlight
from .periods import Period, current_period
from .rewrite import CutOptions, PageCuts
from .settings import Access, Config
from .sharing.gifts import GiftTokens, gift_token
from .sharing.previews import preview_token, previewed
from .sharing.referrals import referral_of
from .store import NO_EXTRAS, Extras, MeterStore, Outcome, StoreError, StoreOverloaded, Verdict
from .summary import Summary, SummaryCookie, degraded, mark_seen, summarise, was_seen

logger = logging.getLogger("paywall")


@dataclass(frozen=True)
class Tools:
    """What a request uses beyond its config: built once per config version."""

    store: MeterStore
    cookies: ReaderCookie
    summaries: SummaryCookie
    crawlers: CrawlerVerifier
    in_flight: InFlight
    pages: PageCuts
    clock: Callable[[], datetime]
    gifts: GiftTokens
    cut_options: dict[tuple[bool, bool, int], CutOptions] = field(default_factory=dict)


@dataclass(frozen=True)
class Viewed:
    """A decided view, whose cookies to set on the response (none for a crawler), and when
    it was decided (the day analytics counts it in)."""

    decision: Decision
    identified: Identified | None
    now: datetime


async def decide_view(
    tools: Tools,
    config: Config,
    scope: Scope,
    access: Access,
    *,
    count: bool = True,
    path_access: Access | None = None,
) -> Viewed:
    """Decide one view of a metered or premium article (`count=False`: never counted, as
    for a method other than GET: walled like a premium page; `path_access`: the rules'
    access for the path when an upstream's X-Paywall set `access`, default the same).
    Raises Busy (429/503) when the reader or the process has too many views in flight, or
    we were too slow to hear Redis."""
    article = routing.article_key(scope, config.article_query)
    now = tools.clock()
    query: bytes = scope.get("query_string") or b""
    if query:  # an editor's preview, or a gift link
        token = preview_token(query)
        if token is not None:
            shown = previewed(config, token, article, article_path(scope, config), access, now)
            if shown is not None:  # no store, no cookie
                return Viewed(shown, None, now)
    client = scope.get("client")
    crawler = await tools.crawlers.verify(
        config.crawlers, header(scope, b"user-agent"), client[0] if client else None
    )
    if crawler is not None:  # the full article, not counted, no cookie
        return Viewed(Decision(Who.CRAWLER, access, Result.CRAWLER), None, now)
    identified = tools.cookies.identify(scope["headers"], account_of(scope))
    signed_in = identified.reader.account is not None
    gift = count and config.sharing.gifts.enabled and _gift_opens(tools, query, article, now)
    metered_as: Access = access if count and not gift else "premium"
    arms = None  # an experiment's arms: assigned by the browser's reader id, signed in or not
    if config.experiments.configured and not gift:
        unit = identified.reader.reader_id
        arms = config.experiments.variant(unit, signed_in, now, scope["path"], access)
    view = await _meter(tools, config, scope, identified, metered_as, now, arms, article)
    if view.verdict is None:  # store down, on_store_error: open
        decision = Decision(who_is(signed_in), access, Result.DEGRADED, degraded=True)
        return Viewed(decision, view.identified, now)
    decision = decide(
        view.verdict,
        signed_in=signed_in,
        access=access,
        config=config,
        now=now,
        degraded=view.fault,
        variant=view.variant,
        exposed=view.exposed,
        gift=gift,
    )
    gated = (path_access or access) != "free"  # a gift link is made for the rules' articles
    if decision.result is Result.ENTITLED and count and gated and _may_gift(config, view):
        decision = gift_control(
            decision, config, view.verdict.gifts_given, article_path(scope, config)
        )
    return Viewed(decision, view.identified, now)


def _gift_opens(tools: Tools, query: bytes, article: str, now: datetime) -> bool:
    """Whether the query carries a gift token for this article, unexpired."""
    token = gift_token(query) if query else None
    return token is not None and tools.gifts.opens(token, article, now.timestamp())


def _may_gift(config: Config, view: _Metered) -> bool:
    """Whether an entitled reader's view shows the gift control: gifts on, a plan that may
    gift, an answer from the store (it tells the gifts given)."""
    gifts = config.sharing.gifts
    return (
        gifts.enabled
        and view.verdict is not None
        and not view.fault
        and view.verdict.status in gifts.plans
        and view.identified.reader.account is not None
    )


def article_path(scope: Scope, config: Config) -> str:
    """The article's address as the reader asked for it: the path as sent, and the
    `content.article_query` parameters (what a gift link or a preview adds its token to)."""
    raw_path = scope.get("raw_path")
    path = (
        raw_path.split(b"?", 1)[0].decode("latin-1")
        if isinstance(raw_path, bytes) and raw_path
        else quote(scope["path"], safe="/:@!$&'()*+,;=-._~")
    )
    if config.article_query:
        query = routing.article_query(scope.get("query_string", b""), config.article_query)
        if query:
            return f"{path}?{query}"
    return path


@dataclass(frozen=True)
class _Metered:
    """What the store said of a view (None: read it open), who to set cookies for, whether
    the store failed; the view's experiment arms, and those this browser meets first."""

    verdict: Verdict | None
    identified: Identified
    fault: bool
    variant: Variant | None = None
    exposed: tuple[tuple[str, str], ...] = ()


async def _meter(
    tools: Tools,
    config: Config,
    scope: Scope,
    identified: Identified,
    access: Access,
    now: datetime,
    arms: Variant | None,
    article: str,
) -> _Metered:
    """The store's verdict on this view of `article` (the limit of its arms, if any). A
    verdict from the store updates the summary cookie."""
    period = current_period(config.period, config.timezone, now)
    signed_in = identified.reader.account is not None
    limit = config.limit_for(signed_in)
    limit = arms.limit_for(signed_in, limit) if arms is not None else limit
    store = tools.store
    summaries = tools.summaries
    last, signed_now = summaries.read(scope["headers"])
    try:
        async with tools.in_flight.slot(
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
                network = client_network_of(scope)
                if network is not None:
                    start_used = await store.new_reader_from(network, period, now) > cap
            extras = NO_EXTRAS
            sharing = config.sharing
            if sharing.referrals or (signed_in and sharing.gifts.enabled):
                referral = ""
                if sharing.referrals and access == "metered" and not start_used:
                    referral = referral_of(sharing, scope)
                extras = Extras(
                    signed_in and sharing.gifts.enabled, bool(sharing.referrals), referral
                )
            verdict = await store.view(
                identified.reader,
                article,
                premium=access == "premium",
                limit=limit,
                period=period,
                now=now,
                merge=merge,
                start_used=start_used,
                extras=extras,
            )
    except StoreError as exc:
        # The store logs each outage once; a line per request would flood the log.
        logger.debug("paywall: store unavailable (%s); on_store_error", exc)
        return _without_store(exc, config, identified, last, period, now, access)
    variant: Variant | None = None
    exposed: tuple[tuple[str, str], ...] = ()
    seen: str | None = None
    if arms is not None:
        variant, exposed, seen = _exposure(config, arms, verdict, signed_in, last)
    summary = summarise(verdict, identified.reader, period, limit, last, seen)
    if summary != last or not signed_now:
        identified = identified.with_summary(summaries.header(summary))
    return _Metered(verdict, identified, False, variant, exposed)


def _without_store(
    exc: StoreError,
    config: Config,
    identified: Identified,
    last: Summary | None,
    period: Period,
    now: datetime,
    access: Access,
) -> _Metered:
    """The view when the store failed: the reader's summary, else on_store_error (no arms:
    an experiment counts what the store decided)."""
    if identified.merge_from is not None:  # not merged: try again next time
        identified = replace(identified, cookie=None)
    decided = degraded(last, identified.reader, period, now, access == "premium")
    if decided is not None:  # walled stays walled, a paid plan keeps reading
        return _Metered(decided, identified, True)
    if isinstance(exc, StoreOverloaded):  # we were slow, not Redis: no open wall
        raise Busy(503, str(exc)) from exc
    if config.on_store_error == "open" and access == "metered":
        return _Metered(None, identified, True)
    return _Metered(Verdict(Outcome.PREMIUM_WALLED, 0, Status.NONE), identified, True)


def _exposure(
    config: Config, arms: Variant, verdict: Verdict, signed_in: bool, last: Summary | None
) -> tuple[Variant | None, tuple[tuple[str, str], ...], str | None]:
    """The view's arms once the meter answered (none for an entitled reader, whom nothing
    of an experiment reaches; signed-in audiences told apart), those this browser's summary
    has not yet marked as counted (its exposures: docs/analytics.md), and the marks."""
    if verdict.outcome is Outcome.ENTITLED:
        return None, (), None
    variant: Variant | None = arms  # anonymous: the arms were chosen for that audience
    if signed_in:
        variant = config.experiments.narrow(arms, Audience.of(signed_in, verdict.status))
    if variant is None:
        return None, (), None
    seen = last.seen if last is not None else ""
    new = [n for n, token in enumerate(variant.tokens) if not was_seen(seen, token)]
    if not new:
        return variant, (), None
    exposed: tuple[tuple[str, str], ...] = tuple(variant.arms[n] for n in new)
    return variant, exposed, mark_seen(seen, (variant.tokens[n] for n in new))
