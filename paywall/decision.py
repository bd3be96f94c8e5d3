"""What one view gets, as one typed value: who read, under which rule, with what outcome.

The middleware decides in two pure steps around the store's verdict: which access applies
(routing.py), then, from the store's verdict, this value. It is what the log line says and
what analytics count; with the response's shape and method, it says what the reader gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .experiments.assign import Variant
from .names import Audience, Prompt
from .prompts import PromptContext
from .settings import Access, Config
from .sharing.gifts import GIFT_PATH
from .store import Outcome, Verdict


class Who(StrEnum):
    ANONYMOUS = "anonymous"
    ACCOUNT = "account"
    CRAWLER = "crawler"


class Result(StrEnum):
    """The outcome of a view, as analytics and Prometheus label it."""

    BANNER = "banner"
    LAST_FREE = "last_free"
    WALLED_LIMIT = "walled_limit"
    WALLED_PREMIUM = "walled_premium"
    REGISTER_WALL = "register_wall"
    ALREADY_READ = "already_read"
    ENTITLED = "entitled"
    CRAWLER = "crawler"
    PREFETCH = "prefetch"
    DEGRADED = "degraded"  # the store could not answer and the article was read open
    GIFT = "gift"  # read in full through a subscriber's gift link, not counted
    REFERRAL = "referral"  # read in full, free, as a referral rule allows: not counted


@dataclass(frozen=True)
class Decision:
    """One view, decided. `prompt` is None when the reader gets the article untouched."""

    who: Who
    access: Access  # the rule that applied: metered or premium
    result: Result
    prompt: Prompt | None = None
    audience: Audience | None = None
    context: PromptContext | None = None
    degraded: bool = False  # decided without the store (its summary, or on_store_error)
    variant: Variant | None = None  # the experiment arms that decided it, if any
    exposed: tuple[tuple[str, str], ...] = ()  # (experiment, arm) this browser meets first
    preview: bool = False  # an editor's signed preview: shown, never counted or metered

    @property
    def arms(self) -> tuple[tuple[str, str], ...]:
        """(experiment, arm) of each experiment this view is counted in."""
        return self.variant.arms if self.variant is not None else ()

    @property
    def label(self) -> str:
        """The outcome as analytics count it: a view the store could not decide is
        `degraded`, whatever the reader got."""
        return Result.DEGRADED.value if self.degraded else self.result.value

    @property
    def walled(self) -> bool:
        return self.prompt is not None and self.prompt.walls

    @property
    def offers(self) -> tuple[str, ...]:
        """Ids of the offers the prompt shows."""
        shown = self.prompt is not None and self.prompt.shows_offers
        return self.context.offer_ids if self.context is not None and shown else ()

    def describe(self) -> str:
        """One log line's worth: no reader id, no address."""
        prompt = self.prompt.value if self.prompt else "-"
        audience = self.audience.value if self.audience else "-"
        offers = ",".join(self.offers) or "-"
        flags = (" degraded" if self.degraded else "") + (" preview" if self.preview else "")
        return (
            f"{self.who} {self.access} {self.result}{flags}"
            f" prompt={prompt} audience={audience} offers={offers}"
        )


def who_is(signed_in: bool) -> Who:
    return Who.ACCOUNT if signed_in else Who.ANONYMOUS


def decide(
    verdict: Verdict,
    *,
    signed_in: bool,
    access: Access,
    config: Config,
    now: datetime,
    degraded: bool = False,
    variant: Variant | None = None,
    exposed: tuple[tuple[str, str], ...] = (),
    gift: bool = False,
) -> Decision:
    """The decision for the store's verdict (or the one reached without it, `degraded`);
    `variant` holds what the view's experiment arms override, `exposed` the arms this
    browser meets for the first time; `gift`: the view came through a gift link for this
    article (metered as premium, so never counted)."""
    who = who_is(signed_in)
    outcome = verdict.outcome
    if outcome is Outcome.ALREADY_READ:
        return Decision(
            who, access, Result.ALREADY_READ, degraded=degraded, variant=variant, exposed=exposed
        )
    if outcome is Outcome.ENTITLED:
        return Decision(who, access, Result.ENTITLED, degraded=degraded)
    if gift:  # in full under the gifted banner, with the offers for the reader's audience
        audience = Audience.of(signed_in, verdict.status)
        limit = config.limit_for(signed_in)
        context = context_for(config, limit, limit, False, audience, now, None)
        return Decision(who, access, Result.GIFT, Prompt.GIFTED, audience, context, degraded)
    if outcome is Outcome.REFERRAL:
        return Decision(
            who, access, Result.REFERRAL, degraded=degraded, variant=variant, exposed=exposed
        )
    limit = config.limit_for(signed_in)
    if variant is not None:
        limit = variant.limit_for(signed_in, limit)
    left = max(limit - verdict.views, 0)
    audience = Audience.of(signed_in, verdict.status)
    used = outcome is Outcome.LIMIT_USED
    context = context_for(config, left, limit, used, audience, now, variant)
    if outcome is Outcome.COUNTED:
        prompt, result = (
            (Prompt.METER, Result.BANNER) if left >= 1 else (Prompt.LAST_FREE, Result.LAST_FREE)
        )
    elif outcome is Outcome.LIMIT_USED and not signed_in and config.registration_wall:
        prompt, result = Prompt.REGISTER, Result.REGISTER_WALL
    elif outcome is Outcome.LIMIT_USED:
        prompt, result = Prompt.wall_for(verdict.status), Result.WALLED_LIMIT
    else:
        prompt, result = Prompt.wall_for(verdict.status), Result.WALLED_PREMIUM
    return Decision(who, access, result, prompt, audience, context, degraded, variant, exposed)


def gift_control(decision: Decision, config: Config, given: int, article_path: str) -> Decision:
    """An entitled reader's view, with the gift control (gift.html): the gifts left this
    period after `given`, and where to ask for a link to `article_path`."""
    gifts = config.sharing.gifts
    context = PromptContext(
        articles_left=0,
        limit=config.limit,
        limit_used=False,
        publication=config.publication,
        period=config.period,
        subscribe_url=config.subscribe_url,
        register_url=config.register_url,
        offers=(),
        gifts_left=max(gifts.per_period - given, 0),
        gift_valid_days=gifts.valid_days,
        gift_url=config.analytics.prefix + GIFT_PATH,
        article_path=article_path,
    )
    return Decision(
        decision.who,
        decision.access,
        Result.ENTITLED,
        Prompt.GIFT,
        None,
        context,
        decision.degraded,
    )


def context_for(
    config: Config,
    left: int,
    limit: int,
    limit_used: bool,
    audience: Audience,
    now: datetime,
    variant: Variant | None,
) -> PromptContext:
    """The prompt's context: one of a few per config, day and arms, so built once and kept
    (its rendered fragment is then found by the same object's key)."""
    today = now.astimezone(config.timezone).date()
    offers, chosen = config.offers, None
    if variant is not None and variant.offers is not None:
        offers, chosen = variant.offers, variant.offer_ids
    key = (left, limit, limit_used, audience, today, chosen)
    kept = config.prompt_contexts
    context = kept.get(key)
    if context is None:
        if len(kept) >= _KEPT_CONTEXTS:
            kept.clear()
        context = kept[key] = PromptContext(
            articles_left=left,
            limit=limit,
            limit_used=limit_used,
            publication=config.publication,
            period=config.period,
            subscribe_url=config.subscribe_url,
            register_url=config.register_url,
            offers=tuple(offer.context for offer in offers if offer.shown(audience, today)),
        )
    return context


_KEPT_CONTEXTS = 4096
