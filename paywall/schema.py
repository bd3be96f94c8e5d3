"""Validating the YAML file: every problem found, each naming file, line and key."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .analytics.schema import TOP_KEYS as ANALYTICS_KEYS
from .analytics.schema import analytics_settings
from .connection import scheme_problem
from .crawlers import Crawler
from .experiments.assign import Experiments
from .experiments.schema import experiments
from .html import Selector
from .names import Audience
from .payments.schema import TOP_KEYS as PAYMENTS_KEYS
from .payments.schema import payments_settings
from .periods import PERIODS
from .prompts import CLICK_URL, Prompts, load_prompts
from .settings import (
    ACCESS_LEVELS,
    AUDIENCES,
    DEFAULT_PREFIX,
    DEFAULT_SECTION,
    ON_STORE_ERROR,
    Config,
    Offer,
    Rule,
    Startup,
    human_date,
    section_of,
)
from .sharing.schema import TOP_KEYS as SHARING_KEYS
from .sharing.schema import sharing_settings
from .yamlsource import KeyPath, Source

T = TypeVar("T", bound=str)

_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")


def build(source: Source) -> Config | None:
    """The config `source` describes, or None; every problem is recorded in the source."""
    return _Builder(source).build()


class _Builder:
    """Walks the parsed YAML, collecting every problem rather than stopping at the first."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.folder = source.path.parent

    def build(self) -> Config | None:
        top = self.section(self.source.data, (), _TOP_KEYS)
        meter = self.section(
            top.get("meter", {}),
            ("meter",),
            {
                "limit",
                "period",
                "timezone",
                "registered_limit",
                "registration_wall",
                "new_readers_per_network",
            },
        )
        content = self.section(
            top.get("content", {}),
            ("content",),
            {
                "default",
                "rules",
                "article",
                "teaser_paragraphs",
                "teaser_max_words",
                "page_param",
                "article_query",
                "pass_types",
                "cache_mb",
                "max_page_kb",
                "structured_data",
            },
        )
        overload = self.section(
            top.get("overload", {}), ("overload",), {"per_reader", "per_process"}
        )
        store = self.section(
            top.get("store", {}), ("store",), {"url", "prefix", "timeout_ms", "breaker_seconds"}
        )
        cookie = self.section(
            top.get("cookie", {}), ("cookie",), {"name", "secure", "max_age_days", "secret_env"}
        )
        timezone = self.timezone(meter)
        offers = self.offers(top.get("offers", []), timezone)
        prefix = self.text(store, ("store", "prefix"), DEFAULT_PREFIX)
        if "{" in prefix or "}" in prefix:
            self.error(("store", "prefix"), "must not contain { or } (they are Redis hash tags)")
        templates_dir = self.templates_dir(top)
        cookie_name = self.text(cookie, ("cookie", "name"), "paywall_rid")
        if not _COOKIE_NAME.fullmatch(cookie_name):
            self.error(("cookie", "name"), f"{cookie_name!r} is not a valid cookie name")
        extra_keys = frozenset(key for offer in offers for key in offer.context)
        prompts, prompt_problems = load_prompts(templates_dir, extra_keys)
        limit = self.integer(meter, ("meter", "limit"), 10)
        rules = self.rules(content.get("rules", []))
        sections = frozenset({DEFAULT_SECTION, *(rule.section for rule in rules)})
        tested = experiments(self, top.get("experiments", []), offers, sections)
        config = Config(
            path=self.source.path,
            publication=self.text(top, ("publication",), None),
            limit=limit,
            registered_limit=self.integer(meter, ("meter", "registered_limit"), limit),
            registration_wall=self.boolean(meter, ("meter", "registration_wall"), False),
            new_readers_per_network=self.integer(meter, ("meter", "new_readers_per_network"), 0),
            period=self.choice(meter, ("meter", "period"), PERIODS, "month"),
            timezone=timezone,
            default_access=self.choice(content, ("content", "default"), ACCESS_LEVELS, "free"),
            rules=rules,
            article=self.selector(content),
            teaser_paragraphs=self.integer(content, ("content", "teaser_paragraphs"), 2),
            teaser_max_words=self.integer(content, ("content", "teaser_max_words"), 120),
            page_param=self.text(content, ("content", "page_param"), "") or None,
            article_query=tuple(self.text_list(content, ("content", "article_query"))),
            pass_types=self.media_types(content),
            page_cache_bytes=self.integer(content, ("content", "cache_mb"), 64) * 1024 * 1024,
            max_page_bytes=self.integer(content, ("content", "max_page_kb"), 4096, low=1) * 1024,
            structured_data=self.boolean(content, ("content", "structured_data"), True),
            offers=offers,
            subscribe_url=self.url(top, ("subscribe_url",), "/subscribe"),
            register_url=self.url(top, ("register_url",), "/signin"),
            templates_dir=templates_dir,
            startup=Startup(
                store_url=self.store_url(store),
                store_prefix=prefix,
                store_timeout=self.integer(store, ("store", "timeout_ms"), 100, low=1) / 1000,
                store_breaker_seconds=self.integer(store, ("store", "breaker_seconds"), 5),
                secret_env=self.text(cookie, ("cookie", "secret_env"), "PAYWALL_SECRET_KEYS"),
            ),
            reader_in_flight=self.integer(overload, ("overload", "per_reader"), 4, low=1),
            process_in_flight=self.integer(overload, ("overload", "per_process"), 256, low=1),
            crawlers=self.crawlers(top.get("crawlers", [])),
            cookie_name=cookie_name,
            cookie_secure=self.boolean(cookie, ("cookie", "secure"), True),
            cookie_max_age=self.integer(cookie, ("cookie", "max_age_days"), 365, low=1) * 86400,
            on_store_error=self.choice(top, ("on_store_error",), ON_STORE_ERROR, "open"),
            prompts=prompts or Prompts({}, ""),
            analytics=analytics_settings(self, top),
            payments=payments_settings(self, top),
            experiments=Experiments(tested, offers, prompts, timezone, partial(section_of, rules)),
            sharing=sharing_settings(self, top),
        )
        self.source.problems.extend(prompt_problems)
        if self.source.problems or prompts is None:
            return None
        return config

    # -- helpers: each returns a usable default after recording a problem --

    def error(self, at: KeyPath, message: str) -> None:
        self.source.error(at, message)

    def line(self, at: KeyPath) -> int:
        return self.source.line_of(at)

    def section(self, value: Any, at: KeyPath, allowed: set[str]) -> dict[str, Any]:
        if value is None:  # a section left empty, e.g. with all its keys commented out
            return {}
        if not isinstance(value, dict):
            self.error(at, f"expected a mapping of keys, got {_kind(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.error((*at, key), f"unknown key; expected one of {', '.join(sorted(allowed))}")
        return value

    def text(self, where: dict[str, Any], at: KeyPath, default: str | None) -> str:
        value = where.get(str(at[-1]), default)
        if value is None:
            self.error(at, "is required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error(at, f"expected text, got {_kind(value)}")
            return default or ""
        return str(value)

    def integer(self, where: dict[str, Any], at: KeyPath, default: int, low: int = 0) -> int:
        value = where.get(str(at[-1]), default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.error(at, f"expected a whole number ≥ {low}, got {value!r}")
            return default
        return value

    def boolean(self, where: dict[str, Any], at: KeyPath, default: bool) -> bool:
        value = where.get(str(at[-1]), default)
        if not isinstance(value, bool):
            self.error(at, f"expected true or false, got {value!r}")
            return default
        return value

    def choice(self, where: dict[str, Any], at: KeyPath, options: tuple[T, ...], default: T) -> T:
        value = where.get(str(at[-1]), default)
        for option in options:
            if value == option:
                return option
        self.error(at, f"expected one of {' | '.join(options)}, got {value!r}")
        return default

    def url(self, where: dict[str, Any], at: KeyPath, default: str | None) -> str:
        value = self.text(where, at, default)
        if value and not value.startswith(("/", "https://", "http://")):
            self.error(at, f"{value!r} must be a path starting with / or an http(s) URL")
        return value

    def timezone(self, meter: dict[str, Any]) -> ZoneInfo:
        name = self.text(meter, ("meter", "timezone"), "UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.error(
                ("meter", "timezone"),
                f"unknown time zone {name!r} (use an IANA name such as Asia/Tokyo)",
            )
            return ZoneInfo("UTC")

    def selector(self, content: dict[str, Any]) -> Selector:
        text = self.text(content, ("content", "article"), "article")
        try:
            return Selector.parse(text)
        except ValueError as exc:
            self.error(("content", "article"), str(exc))
            return Selector.parse("article")

    def rules(self, value: Any) -> tuple[Rule, ...]:
        if not isinstance(value, list):
            self.error(("content", "rules"), f"expected a list of rules, got {_kind(value)}")
            return ()
        rules = []
        for index, item in enumerate(value):
            at: KeyPath = ("content", "rules", index)
            rule = self.section(item, at, {"path", "access", "section"})
            if not rule:
                continue
            pattern = self.text(rule, (*at, "path"), None)
            access = self.choice(rule, (*at, "access"), ACCESS_LEVELS, "free")
            problem = _glob_problem(pattern)
            if problem:
                self.error((*at, "path"), f"bad glob {pattern!r}: {problem}")
                continue
            folded = pattern.lower()
            regex = re.compile(fnmatch.translate(pattern))
            lower = re.compile(fnmatch.translate(folded)) if folded != pattern else None
            section = self.text(rule, (*at, "section"), pattern).strip()
            if not section:
                self.error((*at, "section"), "must not be empty")
            rules.append(Rule(pattern, regex, access, lower, section or pattern))
        return tuple(rules)

    def crawlers(self, value: Any) -> tuple[Crawler, ...]:
        if not isinstance(value, list):
            self.error(("crawlers",), f"expected a list of crawlers, got {_kind(value)}")
            return ()
        crawlers = []
        for index, item in enumerate(value):
            at: KeyPath = ("crawlers", index)
            entry = self.section(item, at, {"name", "user_agent", "networks", "dns"})
            if not entry:
                continue
            networks = []
            for n, text in enumerate(self.text_list(entry, (*at, "networks"))):
                try:
                    networks.append(ipaddress.ip_network(text, strict=False))
                except ValueError:
                    self.error((*at, "networks", n), f"{text!r} is not a CIDR network")
            suffixes = tuple(
                "." + suffix.strip(".").lower() for suffix in self.text_list(entry, (*at, "dns"))
            )
            if not networks and not suffixes:
                self.error(
                    at,
                    "a crawler needs networks (CIDR) or dns (hostname suffixes): a User-Agent"
                    " alone can be forged",
                )
            user_agent = self.text(entry, (*at, "user_agent"), None)
            if not user_agent.strip():
                self.error((*at, "user_agent"), "must not be empty")
            name = self.text(entry, (*at, "name"), user_agent)
            crawlers.append(Crawler(name, user_agent.lower(), tuple(networks), suffixes))
        return tuple(crawlers)

    def store_url(self, store: dict[str, Any]) -> str | None:
        url = self.text(store, ("store", "url"), "").strip()
        problem = scheme_problem(url) if url else None
        if problem is not None:
            self.error(("store", "url"), problem)
        return url or None

    def media_types(self, content: dict[str, Any]) -> tuple[str, ...]:
        at: KeyPath = ("content", "pass_types")
        if "pass_types" not in content:
            return DEFAULT_PASS_TYPES
        types = []
        for index, text in enumerate(self.text_list(content, at)):
            media = text.strip().lower()
            if not _MEDIA_TYPE.fullmatch(media):
                self.error((*at, index), f"{text!r} is not a media type like image/* or text/css")
            elif media.startswith("text/html") or media in ("*/*", "text/*"):
                self.error((*at, index), f"{text!r} would let article pages through unwalled")
            else:
                types.append(media)
        return tuple(types)

    def text_list(self, where: dict[str, Any], at: KeyPath) -> list[str]:
        value = where.get(str(at[-1]), [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(at, f"expected a list of text, got {value!r}")
            return []
        return value

    def templates_dir(self, top: dict[str, Any]) -> Path | None:
        if top.get("templates") is None:
            return None
        folder = (self.folder / self.text(top, ("templates",), "")).resolve()
        if not folder.is_dir():
            self.error(("templates",), f"folder {folder} does not exist")
            return None
        return folder

    def offers(self, value: Any, timezone: ZoneInfo) -> tuple[Offer, ...]:
        if not isinstance(value, list):
            self.error(("offers",), f"expected a list of offers, got {_kind(value)}")
            return ()
        offers: list[Offer] = []
        for index, item in enumerate(value):
            at: KeyPath = ("offers", index)
            if not isinstance(item, dict):
                self.error(at, f"expected an offer (a mapping), got {_kind(item)}")
                continue
            offer_id = self.text(item, (*at, "id"), None)
            if any(offer.id == offer_id for offer in offers):
                self.error((*at, "id"), f"offer id {offer_id!r} is used twice")
            context: dict[str, Any] = {
                "id": offer_id,
                "headline": self.text(item, (*at, "headline"), None),
                "url": self.url(item, (*at, "url"), None),
            }
            starts = self.day(item, (*at, "starts"))
            ends = self.day(item, (*at, "ends"))
            if starts and ends and ends < starts:
                self.error((*at, "ends"), "ends before it starts")
            context["starts"] = human_date(starts) if starts else ""
            context["ends"] = human_date(ends) if ends else ""
            context[CLICK_URL] = context["url"]  # the counted link when analytics is on
            for key, extra in item.items():
                if key == CLICK_URL:
                    self.error((*at, key), f"{CLICK_URL} is the paywall's own (the counted link)")
                    continue
                if key in context or key == "audience":
                    continue
                if isinstance(extra, dict | list) or extra is None:
                    self.error(
                        (*at, key), f"extra offer keys must be text or numbers, got {_kind(extra)}"
                    )
                else:
                    context[key] = extra
            offers.append(Offer(offer_id, self.audience(item, at), starts, ends, context))
        return tuple(offers)

    def audience(self, item: dict[str, Any], at: KeyPath) -> frozenset[Audience]:
        value = item.get("audience", list(AUDIENCES))
        if not isinstance(value, list) or not value:
            self.error((*at, "audience"), f"expected a list drawn from {', '.join(AUDIENCES)}")
            return frozenset()
        found = set()
        for index, name in enumerate(value):
            if name in AUDIENCES:
                found.add(Audience(name))
            else:
                self.error(
                    (*at, "audience", index),
                    f"unknown audience {name!r}; expected one of {', '.join(AUDIENCES)}",
                )
        return frozenset(found)

    def day(self, item: dict[str, Any], at: KeyPath) -> date | None:
        value = item.get(str(at[-1]))
        if value is None:
            return None
        if isinstance(value, date):
            return value if type(value) is date else value.date()  # type: ignore[attr-defined]
        self.error(at, f"expected a date like 2027-06-30, got {value!r}")
        return None


_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)")
# Types that cannot carry an article's text: sent on metered and premium paths as they are.
DEFAULT_PASS_TYPES = (
    "image/*",
    "font/*",
    "audio/*",
    "video/*",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/font-woff",
    "application/font-woff2",
    "application/vnd.ms-fontobject",
)

_TOP_KEYS = {
    "overload",
    "publication",
    "meter",
    "content",
    "offers",
    "templates",
    "store",
    "cookie",
    "on_store_error",
    "subscribe_url",
    "register_url",
    "crawlers",
    "experiments",
    *ANALYTICS_KEYS,
    *PAYMENTS_KEYS,
    *SHARING_KEYS,
}


def _glob_problem(pattern: str) -> str | None:
    if not pattern.startswith("/"):
        return "a path glob must start with /"
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                return "'[' inside a [...] class"
            depth = 1
        elif char == "]" and depth:
            depth = 0
    return "'[' is never closed" if depth else None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), repr(value))
