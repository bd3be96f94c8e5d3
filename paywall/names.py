"""The strings the paywall shares with ops, templates, Redis and HTTP, each typed once.

Entitlement statuses are what `paywall status` prints and meter.lua returns; audiences are
what offers name in the YAML; prompts are the template files and their `data-paywall`
markers; the header is what an upstream sets to override the path rules.
"""

from __future__ import annotations

from enum import StrEnum

OVERRIDE_HEADER = "x-paywall"  # X-Paywall: free | metered | premium, on an upstream response


class Plan(StrEnum):
    """What an entitlement grants (`paywall grant --plan`)."""

    TRIAL = "trial"
    SUBSCRIPTION = "subscription"


class Status(StrEnum):
    """An account's entitlement at a moment."""

    NONE = "none"
    TRIAL = "trial"
    SUBSCRIPTION = "subscription"
    TRIAL_EXPIRED = "trial_expired"
    ACCESS_EXPIRED = "access_expired"

    @property
    def lapsed(self) -> bool:
        return self in (Status.TRIAL_EXPIRED, Status.ACCESS_EXPIRED)

    @classmethod
    def of(cls, plan: Plan, active: bool) -> Status:
        if active:
            return cls.TRIAL if plan is Plan.TRIAL else cls.SUBSCRIPTION
        return cls.TRIAL_EXPIRED if plan is Plan.TRIAL else cls.ACCESS_EXPIRED


class Audience(StrEnum):
    """Who an offer is for (`offers[].audience` in the YAML)."""

    ANONYMOUS = "anonymous"
    REGISTERED = "registered"
    TRIAL_EXPIRED = "trial_expired"
    ACCESS_EXPIRED = "access_expired"

    @classmethod
    def of(cls, signed_in: bool, status: Status) -> Audience:
        if not signed_in:
            return cls.ANONYMOUS
        if status is Status.TRIAL_EXPIRED:
            return cls.TRIAL_EXPIRED
        if status is Status.ACCESS_EXPIRED:
            return cls.ACCESS_EXPIRED
        return cls.REGISTERED


class Prompt(StrEnum):
    """A prompt: its template is `<value>.html`, its marker `data-paywall="<value>"`."""

    METER = "meter"
    LAST_FREE = "last-free"
    SUBSCRIBE = "subscribe"
    TRIAL_EXPIRED = "trial-expired"
    ACCESS_EXPIRED = "access-expired"
    REGISTER = "register"
    GIFT = "gift"  # the "Gift this article" control a subscriber sees (gifts:)
    GIFTED = "gifted"  # the banner above an article opened through a gift link

    @property
    def walls(self) -> bool:
        """Shown instead of the rest of the article, not above it."""
        return self not in _ABOVE_THE_ARTICLE

    @property
    def shows_offers(self) -> bool:
        """Whether its offers are shown (impressions, counted links): walls and the gifted
        banner; the meter banners carry offers too but do not show them."""
        return self is Prompt.GIFTED or self.walls

    @classmethod
    def wall_for(cls, status: Status) -> Prompt:
        """The wall an account in `status` meets (lapsed readers get a win-back prompt)."""
        if status is Status.TRIAL_EXPIRED:
            return cls.TRIAL_EXPIRED
        if status is Status.ACCESS_EXPIRED:
            return cls.ACCESS_EXPIRED
        return cls.SUBSCRIBE


_ABOVE_THE_ARTICLE = frozenset({Prompt.METER, Prompt.LAST_FREE, Prompt.GIFT, Prompt.GIFTED})
