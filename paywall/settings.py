"""One validated version of the config: the values the middleware reads on each request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .crawlers import Crawler
from .experiments.assign import NO_EXPERIMENTS, Experiments
from .html import Selector
from .names import Audience
from .payments.schema import Payments
from .periods import PeriodName
from .prompts import PromptContext, Prompts
from .sharing.schema import Sharing

Access = Literal["free", "metered", "premium"]
ACCESS_LEVELS: tuple[Access, ...] = ("free", "metered", "premium")
OnStoreError = Literal["open", "closed"]
ON_STORE_ERROR: tuple[OnStoreError, ...] = ("open", "closed")
AUDIENCES = tuple(audience.value for audience in Audience)
DEFAULT_SECTION = "default"  # analytics' section of a path no content rule matches
DEFAULT_PREFIX = "paywall:"  # store.prefix: every key the paywall writes starts with it


@dataclass(frozen=True)
class Rule:
    pattern: str
    regex: re.Pattern[str]
    access: Access
    folded: re.Pattern[str] | None = None  # the glob lower-cased, when it has capitals
    section: str = ""  # what analytics calls the rule's paths (`section:`, default the glob)


@dataclass(frozen=True)
class Offer:
    id: str
    audience: frozenset[Audience]
    starts: date | None
    ends: date | None
    context: dict[str, Any]  # what templates see: id, headline, url, ends, extra keys

    def shown(self, audience: Audience, today: date) -> bool:
        return (
            audience in self.audience
            and (self.starts is None or today >= self.starts)
            and (self.ends is None or today <= self.ends)
        )


@dataclass(frozen=True)
class Analytics:
    """`analytics.*` and what else the paywall serves under `endpoints.prefix`."""

    enabled: bool = False  # count views, clicks, conversions; serve {prefix}/o/
    flush_seconds: float = 5.0  # how often each worker writes its counts to the store
    retention_days: int = 400  # how long a day's counts are kept
    metrics: bool = False  # metrics.enabled: serve {prefix}/metrics
    prefix: str = "/paywall"  # endpoints.prefix, without a trailing slash
    admin_token_env: str = "PAYWALL_ADMIN_TOKEN"  # admin.token_env

    @property
    def serves(self) -> bool:
        """Whether anything answers under the prefix."""
        return self.enabled or self.metrics


@dataclass(frozen=True)
class Startup:
    """The settings read once, when the middleware starts: changing them needs a restart."""

    store_url: str | None
    store_prefix: str
    store_timeout: float
    store_breaker_seconds: int
    secret_env: str


@dataclass(frozen=True)
class Config:
    """One validated, immutable version of the config and its templates."""

    path: Path
    publication: str
    limit: int
    registered_limit: int
    registration_wall: bool
    new_readers_per_network: int
    period: PeriodName
    timezone: ZoneInfo
    default_access: Access
    rules: tuple[Rule, ...]
    article: Selector
    teaser_paragraphs: int
    teaser_max_words: int  # 0: no word cap
    page_param: str | None  # query parameter naming the page of a paginated article
    article_query: tuple[str, ...]  # query parameters that are part of the article's id
    pass_types: tuple[str, ...]  # media types (type/* allowed) sent on gated paths as they are
    page_cache_bytes: int
    max_page_bytes: int
    structured_data: bool
    offers: tuple[Offer, ...]
    subscribe_url: str
    register_url: str
    templates_dir: Path | None
    startup: Startup
    reader_in_flight: int  # views of one reader being metered at once, per process
    process_in_flight: int  # views being metered at once, per process
    crawlers: tuple[Crawler, ...]
    cookie_name: str
    cookie_secure: bool
    cookie_max_age: int
    on_store_error: OnStoreError
    prompts: Prompts = field(repr=False)
    analytics: Analytics = Analytics()
    payments: Payments = field(default_factory=Payments)  # payments.stripe.*
    experiments: Experiments = field(default=NO_EXPERIMENTS, repr=False)
    sharing: Sharing = field(default_factory=Sharing)  # gifts:, referrals:, previews:

    def limit_for(self, signed_in: bool) -> int:
        """Free articles per period: signed-in readers without a plan may get more."""
        return self.registered_limit if signed_in else self.limit

    def access_for(self, path: str, *, folded: bool = False) -> Access:
        """The access of the first rule matching `path` (else `content.default`); `folded`
        matches the rules lower-cased, as a case-insensitive router reads them (for a
        lower-cased reading of the path)."""
        rule = self.rule_for(path, folded=folded)
        return self.default_access if rule is None else rule.access

    def rule_for(self, path: str, *, folded: bool = False) -> Rule | None:
        """The first rule matching `path`, if any (see `access_for`)."""
        for rule in self.rules:
            regex = rule.folded or rule.regex if folded else rule.regex
            if regex.match(path):
                return rule
        return None

    def section_for(self, path: str, access: Access) -> str:
        """The section of the first rule matching `path` with this access (else of the first
        rule matching it at all; `default` when none does): how analytics labels a view."""
        return section_of(self.rules, path, access)

    @cached_property
    def prompt_contexts(self) -> dict[tuple[Any, ...], PromptContext]:
        """The prompt contexts decided under this config (decision.py keeps them here)."""
        return {}

    @cached_property  # asked for every request
    def rules_have_capitals(self) -> bool:
        return any(rule.folded is not None for rule in self.rules)

    def offers_for(self, audience: Audience, today: date) -> list[dict[str, Any]]:
        return [offer.context for offer in self.offers if offer.shown(audience, today)]


def section_of(rules: tuple[Rule, ...], path: str, access: str) -> str:
    """`Config.section_for` of a config with these rules."""
    found = None
    for rule in rules:
        if rule.regex.match(path):
            if rule.access == access:
                return rule.section
            found = found or rule.section
    return found or DEFAULT_SECTION


def human_date(day: date) -> str:
    """'June 30th': how offers print their end dates."""
    suffix = (
        "th" if 10 < day.day % 100 < 14 else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    )
    return f"{day:%B} {day.day}{suffix}"
