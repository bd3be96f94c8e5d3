"""`gifts:`, `referrals:` and `previews:` of the YAML (schema.py calls this with its builder,
so problems name the file, line and key). All three are off until configured."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..names import Status
from ..yamlsource import KeyPath

if TYPE_CHECKING:  # the same few methods of schema._Builder (analytics imports settings)
    from ..analytics.schema import Builder

TOP_KEYS = ("gifts", "referrals", "previews")
MAX_VALID_DAYS = 366
MAX_PREVIEW_MINUTES = 24 * 60
_HOST_PATTERN = re.compile(r"[a-z0-9*](?:[a-z0-9.*-]*[a-z0-9*])?")
_GIFT_PLANS = {"trial": Status.TRIAL, "subscription": Status.SUBSCRIPTION}


@dataclass(frozen=True)
class Gifts:
    """`gifts:`: how many articles an account with an active plan may gift per period, and
    how long a gift link opens its article."""

    enabled: bool = False
    per_period: int = 10
    valid_days: int = 5
    plans: frozenset[Status] = frozenset({Status.TRIAL, Status.SUBSCRIPTION})


@dataclass(frozen=True)
class Referral:
    """One `referrals:` rule: readers arriving from `host` read `per_period` articles free."""

    host: str  # as written, lower-cased
    regex: re.Pattern[str]
    per_period: int
    number: int  # its place in the list: what the reader's referral reads are counted under

    def matches(self, host: str) -> bool:
        return self.regex.fullmatch(host) is not None


@dataclass(frozen=True)
class Sharing:
    gifts: Gifts = field(default_factory=Gifts)
    referrals: tuple[Referral, ...] = ()
    preview_minutes: int = 15  # previews.minutes: how long a preview link works by default

    def referral_for(self, host: str) -> Referral | None:
        """The first rule matching a referring host (lower case, no port)."""
        for rule in self.referrals:
            if rule.matches(host):
                return rule
        return None


def sharing_settings(builder: Builder, top: dict[str, Any]) -> Sharing:
    """The validated settings; every problem is recorded through `builder`."""
    previews = builder.section(top.get("previews", {}), ("previews",), {"minutes"})
    minutes = builder.integer(previews, ("previews", "minutes"), Sharing.preview_minutes, low=1)
    if minutes > MAX_PREVIEW_MINUTES:
        builder.error(("previews", "minutes"), f"at most {MAX_PREVIEW_MINUTES} (a day)")
        minutes = Sharing.preview_minutes
    return Sharing(_gifts(builder, top), _referrals(builder, top.get("referrals", [])), minutes)


def _gifts(builder: Builder, top: dict[str, Any]) -> Gifts:
    if "gifts" not in top:
        return Gifts()
    default = Gifts()
    gifts = builder.section(
        top.get("gifts"), ("gifts",), {"enabled", "per_period", "valid_days", "plans"}
    )
    valid_days = builder.integer(gifts, ("gifts", "valid_days"), default.valid_days, low=1)
    if valid_days > MAX_VALID_DAYS:
        builder.error(("gifts", "valid_days"), f"at most {MAX_VALID_DAYS}")
        valid_days = default.valid_days
    plans = set()
    names = gifts.get("plans", list(_GIFT_PLANS))
    if not isinstance(names, list) or not names:
        builder.error(("gifts", "plans"), f"expected a list drawn from {', '.join(_GIFT_PLANS)}")
        names = []
    for index, name in enumerate(names):
        if name in _GIFT_PLANS:
            plans.add(_GIFT_PLANS[name])
        else:
            builder.error(
                ("gifts", "plans", index),
                f"unknown plan {name!r}; expected one of {', '.join(_GIFT_PLANS)}",
            )
    return Gifts(
        enabled=builder.boolean(gifts, ("gifts", "enabled"), True),
        per_period=builder.integer(gifts, ("gifts", "per_period"), default.per_period, low=1),
        valid_days=valid_days,
        plans=frozenset(plans) or default.plans,
    )


def _referrals(builder: Builder, value: Any) -> tuple[Referral, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        builder.error(("referrals",), "expected a list of {host, per_period} rules")
        return ()
    rules: list[Referral] = []
    for index, item in enumerate(value):
        at: KeyPath = ("referrals", index)
        rule = builder.section(item, at, {"host", "per_period"})
        if not rule:
            continue
        host = builder.text(rule, (*at, "host"), None).strip().lower()
        per_period = builder.integer(rule, (*at, "per_period"), 0, low=1)
        if "per_period" not in rule:
            builder.error((*at, "per_period"), "is required: how many articles a period")
        if not _HOST_PATTERN.fullmatch(host) or ".." in host:
            builder.error(
                (*at, "host"),
                f"{host!r} is not a host pattern like t.co or *.google.* (letters, digits,"
                " dots, hyphens, * for any part; no scheme, port or path)",
            )
            continue
        if any(other.host == host for other in rules):
            builder.error((*at, "host"), f"{host!r} is listed twice")
        rules.append(Referral(host, host_regex(host), per_period, index))
    return tuple(rules)


def host_regex(pattern: str) -> re.Pattern[str]:
    """`*` stands for any run of characters; a leading `*.` also matches the bare domain
    (`*.google.*` matches google.com, www.google.co.uk and news.google.com)."""
    body = pattern
    prefix = ""
    if body.startswith("*."):
        body, prefix = body[2:], r"(?:.*\.)?"
    return re.compile(prefix + ".*".join(re.escape(part) for part in body.split("*")))
