"""`gifts:`, `referrals:` and `previews:` in the YAML: off until configured, values read,
host patterns matched as documented, and every bad value named with its file, line and key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from paywall.config import load_config
from paywall.names import Status
from paywall.sharing.schema import Sharing, host_regex

from .test_config import check_bad

WriteConfig = Callable[..., Path]


def test_everything_is_off_without_the_sections(config_file: WriteConfig) -> None:
    sharing = load_config(config_file()).sharing
    assert not sharing.gifts.enabled
    assert sharing.referrals == ()
    assert sharing.preview_minutes == 15


def test_values_are_read(config_file: WriteConfig) -> None:
    text = config_file().read_text(encoding="utf-8") + (
        "gifts:\n  per_period: 3\n  valid_days: 7\n  plans: [subscription]\n"
        "referrals:\n"
        '  - {host: "*.Google.*", per_period: 2}\n'
        "  - {host: t.co, per_period: 1}\n"
        "previews:\n  minutes: 30\n"
    )
    sharing = load_config(config_file(text)).sharing
    gifts = sharing.gifts
    assert (gifts.enabled, gifts.per_period, gifts.valid_days) == (True, 3, 7)
    assert gifts.plans == {Status.SUBSCRIPTION}
    assert [(r.host, r.per_period, r.number) for r in sharing.referrals] == [
        ("*.google.*", 2, 0),
        ("t.co", 1, 1),
    ]
    assert sharing.preview_minutes == 30


def test_an_empty_gifts_section_turns_gifts_on_with_the_defaults(config_file: WriteConfig) -> None:
    text = config_file().read_text(encoding="utf-8") + "gifts: {}\n"
    gifts = load_config(config_file(text)).sharing.gifts
    assert (gifts.enabled, gifts.per_period, gifts.valid_days) == (True, 10, 5)
    assert gifts.plans == {Status.TRIAL, Status.SUBSCRIPTION}


def test_gifts_can_be_switched_off_in_place(config_file: WriteConfig) -> None:
    text = config_file().read_text(encoding="utf-8") + "gifts: {enabled: false, per_period: 4}\n"
    assert not load_config(config_file(text)).sharing.gifts.enabled


@pytest.mark.parametrize(
    ("host", "matches", "misses"),
    [
        (
            "*.google.*",
            ["google.com", "www.google.com", "news.google.co.uk"],
            ["google", "notgoogle.com", "www.bing.com", "google-analytics.example"],
        ),
        ("t.co", ["t.co"], ["www.t.co", "t.com", "at.co"]),
        ("news.ycombinator.com", ["news.ycombinator.com"], ["ycombinator.com"]),
        ("*.example.org", ["example.org", "a.b.example.org"], ["example.org.evil.net"]),
    ],
)
def test_host_patterns(host: str, matches: list[str], misses: list[str]) -> None:
    regex = host_regex(host)
    assert [h for h in matches if regex.fullmatch(h)] == matches
    assert [h for h in misses if regex.fullmatch(h)] == []


def test_the_first_matching_rule_wins(config_file: WriteConfig) -> None:
    text = config_file().read_text(encoding="utf-8") + (
        "referrals:\n  - {host: news.google.com, per_period: 5}\n"
        '  - {host: "*.google.*", per_period: 2}\n'
    )
    sharing: Sharing = load_config(config_file(text)).sharing
    first = sharing.referral_for("news.google.com")
    second = sharing.referral_for("www.google.com")
    assert first is not None and first.per_period == 5
    assert second is not None and second.per_period == 2
    assert sharing.referral_for("bing.com") is None


@pytest.mark.parametrize(
    ("extra", "needle", "key", "message"),
    [
        ("gifts: {per_period: 0}\n", "per_period: 0", "gifts.per_period", "≥ 1"),
        ("gifts: {valid_days: 400}\n", "valid_days: 400", "gifts.valid_days", "at most 366"),
        ("gifts: {plans: [gold]}\n", "plans: [gold]", "gifts.plans[0]", "unknown plan 'gold'"),
        ("gifts: {plans: []}\n", "plans: []", "gifts.plans", "expected a list"),
        ("gifts: {per_month: 3}\n", "per_month", "gifts.per_month", "unknown key"),
        ("gifts: yes\n", "gifts: yes", "gifts", "expected a mapping"),
        ("referrals: {host: t.co}\n", "referrals:", "referrals", "expected a list"),
        ("referrals:\n  - {host: t.co}\n", "host: t.co", "referrals[0].per_period", "required"),
        (
            "referrals:\n  - {host: 'https://t.co/', per_period: 1}\n",
            "https://t.co/",
            "referrals[0].host",
            "not a host pattern",
        ),
        (
            "referrals:\n  - {host: t.co, per_period: 1}\n  - {host: T.CO, per_period: 2}\n",
            "T.CO",
            "referrals[1].host",
            "listed twice",
        ),
        (
            "referrals:\n  - {host: t.co, per_period: 1, url: /x}\n",
            "url: /x",
            "referrals[0].url",
            "unknown key",
        ),
        ("previews: {minutes: 0}\n", "minutes: 0", "previews.minutes", "≥ 1"),
        ("previews: {minutes: 5000}\n", "minutes: 5000", "previews.minutes", "at most 1440"),
    ],
)
def test_bad_values_name_the_key(
    config_file: WriteConfig, extra: str, needle: str, key: str, message: str
) -> None:
    base = config_file().read_text(encoding="utf-8")
    check_bad(config_file, base + extra, needle, key, message)
