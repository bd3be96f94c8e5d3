"""The YAML file ops edit: values and defaults, every kind of error with file/line/key,
${VAR} interpolation, content rules, offers, and live reload."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from paywall.analytics.history import ConfigChange
from paywall.config import RELOAD_CHECK_SECONDS, LiveConfig, load_config
from paywall.names import Audience
from paywall.settings import Config, human_date
from paywall.yamlsource import ConfigError

from .conftest import CONFIG

WriteConfig = Callable[..., Path]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def line_with(text: str, needle: str) -> int:
    """1-based line number of the only line of `text` containing `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def assert_problem(problems: list[str], path: Path, line: int, key: str, message: str) -> None:
    prefix = f"{path}:{line}: {key}: "
    assert any(p.startswith(prefix) and message in p for p in problems), (prefix, problems)


def check_bad(
    config_file: WriteConfig, text: str, needle: str, key: str, message: str
) -> list[str]:
    """Load `text`, expect a problem on the line holding `needle` for `key`."""
    path = config_file(text)
    problems = problems_of(path)
    assert_problem(problems, path, line_with(text, needle), key, message)
    return problems


@pytest.fixture
def base(config_file: WriteConfig) -> str:
    """The sample config of conftest (with this test's store prefix)."""
    return config_file().read_text(encoding="utf-8")


# -- a good config ---------------------------------------------------------------------


def test_sample_config_loads(config_file: WriteConfig, prefix: str) -> None:
    path = config_file()
    config = load_config(path)
    assert isinstance(config, Config)
    assert config.path == path
    assert config.publication == "The Test Gazette"
    assert config.limit == 3
    assert config.period == "month"
    assert config.timezone.key == "Asia/Tokyo"
    assert config.default_access == "free"
    assert [(r.pattern, r.access) for r in config.rules] == [
        ("/sponsored/*", "free"),
        ("/premium/*", "premium"),
        ("/articles/*", "metered"),
    ]
    assert config.article.text == "article.story"
    assert config.teaser_paragraphs == 2
    assert config.startup.store_prefix == prefix
    [offer] = config.offers
    assert offer.id == "trial-3m"
    assert offer.audience == {"anonymous", "registered"}
    assert offer.starts is None and offer.ends == date(2099, 6, 30)
    assert offer.context["headline"] == "Try 3 months for $9"
    assert offer.context["url"] == "/subscribe?offer=trial-3m"
    assert offer.context["ends"] == "June 30th"
    assert config.templates_dir is None
    assert set(config.prompts.templates) == {
        "meter",
        "last-free",
        "subscribe",
        "trial-expired",
        "access-expired",
        "register",
        "gift",
        "gifted",
    }


def test_defaults(config_file: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(config_file("publication: Minimal News\n"))
    assert config.publication == "Minimal News"
    assert config.limit == 10
    assert config.period == "month"
    assert config.timezone.key == "UTC"
    assert config.on_store_error == "open"
    assert config.default_access == "free"
    assert config.rules == ()
    assert config.offers == ()
    assert config.article.text == "article"
    assert config.teaser_paragraphs == 2
    assert config.startup.store_url is None
    assert config.startup.store_prefix == "paywall:"
    assert config.cookie_name == "paywall_rid"
    assert config.cookie_secure is True
    assert config.cookie_max_age == 365 * 86400
    assert config.startup.secret_env == "PAYWALL_SECRET_KEYS"
    assert config.subscribe_url == "/subscribe"
    assert config.templates_dir is None
    # With no rules every path gets the default access.
    assert config.access_for("/articles/anything") == "free"


def test_every_setting_can_be_set(config_file: WriteConfig) -> None:
    config = load_config(
        config_file(
            "publication: Nikkei Asian Review\n"
            "meter: {limit: 5, period: week, timezone: Europe/Paris}\n"
            "content: {default: metered, article: 'div[itemprop=articleBody]',"
            " teaser_paragraphs: 1}\n"
            "store: {url: 'redis://localhost:6379/1', prefix: 'nar:', timeout_ms: 250}\n"
            "cookie: {name: nar_rid, secure: false, max_age_days: 30, secret_env: NAR_KEYS}\n"
            "on_store_error: closed\n"
            "subscribe_url: https://example.com/subscribe\n"
        )
    )
    assert (config.limit, config.period, config.timezone.key) == (5, "week", "Europe/Paris")
    assert config.default_access == "metered"
    assert config.access_for("/whatever") == "metered"
    assert config.teaser_paragraphs == 1
    assert config.startup.store_url == "redis://localhost:6379/1"
    assert config.startup.store_prefix == "nar:"
    assert config.startup.store_timeout == 0.25
    assert config.cookie_name == "nar_rid"
    assert config.cookie_secure is False
    assert config.cookie_max_age == 30 * 86400
    assert config.startup.secret_env == "NAR_KEYS"
    assert config.on_store_error == "closed"
    assert config.subscribe_url == "https://example.com/subscribe"


# -- bad input: each error names file, line and key --------------------------------------


def test_unknown_top_level_key(base: str, config_file: WriteConfig) -> None:
    text = base + "on_store_eror: closed\n"
    check_bad(config_file, text, "on_store_eror", "on_store_eror", "unknown key")


def test_unknown_nested_key(base: str, config_file: WriteConfig) -> None:
    text = base.replace("  limit: 3", "  limt: 3")
    problems = check_bad(config_file, text, "limt:", "meter.limt", "unknown key")
    assert "limit" in problems[0]  # the message lists what is allowed


def test_unknown_key_in_a_rule(base: str, config_file: WriteConfig) -> None:
    text = base.replace('{path: "/premium/*", access: premium}', '{path: "/p/*", acess: x}')
    check_bad(config_file, text, "acess", "content.rules[1].acess", "unknown key")


@pytest.mark.parametrize("value", ["ten", "-1", "2.5", "true"])
def test_limit_must_be_a_whole_number(base: str, config_file: WriteConfig, value: str) -> None:
    text = base.replace("  limit: 3", f"  limit: {value}")
    check_bad(config_file, text, f"limit: {value}", "meter.limit", "expected a whole number")


def test_secure_must_be_a_boolean(base: str, config_file: WriteConfig) -> None:
    text = base + 'cookie:\n  secure: "yes"\n'
    check_bad(config_file, text, "secure:", "cookie.secure", "expected true or false")


def test_max_age_days_must_be_positive(base: str, config_file: WriteConfig) -> None:
    text = base + "cookie:\n  max_age_days: 0\n"
    check_bad(config_file, text, "max_age_days", "cookie.max_age_days", "whole number")


def test_bad_period(base: str, config_file: WriteConfig) -> None:
    text = base.replace("period: month", "period: fortnight")
    check_bad(config_file, text, "fortnight", "meter.period", "month | week | day")


def test_unknown_time_zone(base: str, config_file: WriteConfig) -> None:
    text = base.replace("Asia/Tokyo", "Mars/Olympus_Mons")
    check_bad(config_file, text, "Mars/", "meter.timezone", "unknown time zone")


def test_glob_must_start_with_a_slash(base: str, config_file: WriteConfig) -> None:
    text = base.replace('"/articles/*"', '"articles/*"')
    check_bad(config_file, text, '"articles/*"', "content.rules[2].path", "must start with /")


def test_glob_with_unclosed_bracket(base: str, config_file: WriteConfig) -> None:
    text = base.replace('"/articles/*"', '"/articles/[abc*"')
    check_bad(config_file, text, "[abc", "content.rules[2].path", "never closed")


def test_bad_access_value(base: str, config_file: WriteConfig) -> None:
    text = base.replace("access: premium}", "access: paid}")
    check_bad(config_file, text, "paid", "content.rules[1].access", "free | metered | premium")


def test_bad_default_access(base: str, config_file: WriteConfig) -> None:
    text = base.replace("default: free", "default: open")
    check_bad(config_file, text, "default: open", "content.default", "free | metered | premium")


@pytest.mark.parametrize("selector", ["div[", "article >", "a:::b", "*", "body"])
def test_bad_css_selector(base: str, config_file: WriteConfig, selector: str) -> None:
    text = base.replace("article: article.story", f'article: "{selector}"')
    check_bad(config_file, text, "article: ", "content.article", "")


@pytest.mark.parametrize("selector", ["main > article", "article .body", "div:not(.promo)"])
def test_css_selectors_beyond_one_element_are_accepted(
    base: str, config_file: WriteConfig, selector: str
) -> None:
    text = base.replace("article: article.story", f'article: "{selector}"')
    assert load_config(config_file(text)).article.text == selector


def test_duplicate_key(base: str, config_file: WriteConfig) -> None:
    text = base.replace("  period: month\n", "  period: month\n  limit: 4\n")
    check_bad(config_file, text, "limit: 4", "meter.limit", "twice")


def test_duplicate_offer_id(base: str, config_file: WriteConfig) -> None:
    text = base.replace(
        "store:\n",
        "  - id: trial-3m\n    headline: Again\n    url: /again\nstore:\n",
    )
    path = config_file(text)
    problems = problems_of(path)
    second = text.splitlines().index("  - id: trial-3m", 15) + 1
    assert_problem(problems, path, second, "offers[1].id", "used twice")


def test_offer_ends_before_it_starts(base: str, config_file: WriteConfig) -> None:
    text = base.replace("    ends: 2099-06-30", "    starts: 2099-07-01\n    ends: 2099-06-30")
    check_bad(config_file, text, "ends: 2099", "offers[0].ends", "ends before it starts")


def test_offer_date_must_be_a_date(base: str, config_file: WriteConfig) -> None:
    text = base.replace("ends: 2099-06-30", "ends: next week")
    check_bad(config_file, text, "next week", "offers[0].ends", "expected a date")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "subscribe", "data:text/html,hi"])
def test_bad_offer_url(base: str, config_file: WriteConfig, url: str) -> None:
    text = base.replace("url: /subscribe?offer=trial-3m", f'url: "{url}"')
    check_bad(config_file, text, "url:", "offers[0].url", "must be a path")


def test_offer_needs_id_headline_and_url(base: str, config_file: WriteConfig) -> None:
    text = base.replace(
        "    headline: Try 3 months for $9\n    url: /subscribe?offer=trial-3m\n", ""
    )
    path = config_file(text)
    problems = problems_of(path)
    line = line_with(text, "id: trial-3m")
    assert_problem(problems, path, line, "offers[0].headline", "is required")
    assert_problem(problems, path, line, "offers[0].url", "is required")


def test_unknown_audience(base: str, config_file: WriteConfig) -> None:
    text = base.replace("[anonymous, registered]", "[anonymous, subscribers]")
    check_bad(config_file, text, "subscribers", "offers[0].audience[1]", "unknown audience")


def test_publication_is_required(base: str, config_file: WriteConfig) -> None:
    text = base.replace("publication: The Test Gazette\n", "")
    path = config_file(text)
    assert_problem(problems_of(path), path, 1, "publication", "is required")


def test_bad_on_store_error(base: str, config_file: WriteConfig) -> None:
    text = base + "on_store_error: maybe\n"
    check_bad(config_file, text, "maybe", "on_store_error", "open | closed")


def test_section_must_be_a_mapping(base: str, config_file: WriteConfig, prefix: str) -> None:
    text = base.replace(
        f'store:\n  prefix: "{prefix}"\n  timeout_ms: 1000\n', "store: redis://localhost\n"
    )
    check_bad(config_file, text, "store:", "store", "expected a mapping")


def test_prefix_must_not_hold_hash_tags(base: str, config_file: WriteConfig, prefix: str) -> None:
    text = base.replace(f'prefix: "{prefix}"', 'prefix: "{pw}:"')
    check_bad(config_file, text, "prefix", "store.prefix", "{ or }")


def test_bad_cookie_name(base: str, config_file: WriteConfig) -> None:
    text = base + 'cookie:\n  name: "my cookie"\n'
    check_bad(config_file, text, "my cookie", "cookie.name", "not a valid cookie name")


def test_several_problems_are_reported_together(base: str, config_file: WriteConfig) -> None:
    text = (
        base.replace("  limit: 3", "  limit: ten")
        .replace("Asia/Tokyo", "Nowhere/Special")
        .replace('"/articles/*"', '"articles/*"')
        .replace("[anonymous, registered]", "[everyone]")
        + "colour: red\n"
    )
    path = config_file(text)
    problems = problems_of(path)
    assert len(problems) == 5, problems
    assert_problem(problems, path, line_with(text, "limit: ten"), "meter.limit", "")
    assert_problem(problems, path, line_with(text, "Nowhere"), "meter.timezone", "")
    assert_problem(problems, path, line_with(text, '"articles/*"'), "content.rules[2].path", "")
    assert_problem(problems, path, line_with(text, "everyone"), "offers[0].audience[0]", "")
    assert_problem(problems, path, line_with(text, "colour"), "colour", "unknown key")


def test_yaml_syntax_error_names_file_and_line(base: str, config_file: WriteConfig) -> None:
    path = config_file(base.replace("  limit: 3", "  limit: [3"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:")
    assert "YAML syntax error" in problem


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    [problem] = problems_of(missing)
    assert problem.startswith(f"{missing}:")


# -- templates folder ------------------------------------------------------------------


def test_relative_templates_folder_is_resolved_against_the_config_folder(
    base: str, config_file: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "last-free.html").write_text(
        "<p>Last one this {{period}}, from our custom folder</p>", encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(config_file(base + "templates: prompts/\n"))
    assert config.templates_dir == folder.resolve()
    html = config.prompts.render("last-free", {"period": "month"})
    assert "Last one this month, from our custom folder" in html


def test_missing_templates_folder_is_an_error(base: str, config_file: WriteConfig) -> None:
    text = base + "templates: no-such-folder/\n"
    check_bad(config_file, text, "templates:", "templates", "does not exist")


def test_template_problem_fails_the_config(
    base: str, config_file: WriteConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "meter.html").write_text("<p>Hi</p>\n<p>{{readerName}}</p>\n", encoding="utf-8")
    problems = problems_of(config_file(base + "templates: prompts\n"))
    assert any(
        p.startswith(f"{folder / 'meter.html'}:2: ") and "readerName" in p for p in problems
    ), problems


def test_extra_offer_keys_reach_the_templates(
    base: str, config_file: WriteConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "subscribe.html").write_text(
        "{{#offers}}<a href='{{url}}'>{{headline}} ({{price}})</a>{{/offers}}", encoding="utf-8"
    )
    text = base.replace("    ends: 2099-06-30\n", "    ends: 2099-06-30\n    price: $9\n")
    config = load_config(config_file(text + "templates: prompts\n"))
    offers = config.offers_for(Audience.ANONYMOUS, date(2099, 1, 1))
    html = config.prompts.render("subscribe", {"offers": offers})
    assert "Try 3 months for $9 ($9)" in html


# -- ${VAR} interpolation --------------------------------------------------------------


def test_env_interpolation_with_types(
    base: str, config_file: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMIT", "7")
    monkeypatch.setenv("PUBLICATION", "The Env Times")
    monkeypatch.setenv("SECURE", "false")
    monkeypatch.delenv("PAYWALL_TZ", raising=False)
    text = (
        base.replace("  limit: 3", "  limit: ${LIMIT}")
        .replace("The Test Gazette", "${PUBLICATION}")
        .replace("Asia/Tokyo", "${PAYWALL_TZ:-Europe/London}")
        + "cookie:\n  secure: ${SECURE}\n"
    )
    config = load_config(config_file(text))
    assert config.limit == 7 and type(config.limit) is int
    assert config.publication == "The Env Times"
    assert config.timezone.key == "Europe/London"
    assert config.cookie_secure is False


def test_env_limit_that_is_not_a_number(
    base: str, config_file: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMIT", "lots")
    text = base.replace("  limit: 3", "  limit: ${LIMIT}")
    check_bad(config_file, text, "${LIMIT}", "meter.limit", "'lots'")


def test_store_url_from_unset_variable_means_no_url(
    base: str, config_file: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    text = base.replace("store:\n", "store:\n  url: ${REDIS_URL}\n")
    assert load_config(config_file(text)).startup.store_url is None
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    assert load_config(config_file(text)).startup.store_url == "redis://cache.internal:6379/2"


def test_offer_dates_from_the_environment(
    base: str, config_file: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFER_ENDS", "2031-03-22")
    text = base.replace("ends: 2099-06-30", "ends: ${OFFER_ENDS}")
    [offer] = load_config(config_file(text)).offers
    assert offer.ends == date(2031, 3, 22)
    assert offer.context["ends"] == "March 22nd"


# -- content rules ---------------------------------------------------------------------


def test_access_for_uses_rules_then_default(config_file: WriteConfig) -> None:
    config = load_config(config_file())
    assert config.access_for("/articles/2026/rates-rise") == "metered"
    assert config.access_for("/premium/deep-dive") == "premium"
    assert config.access_for("/sponsored/brand") == "free"
    assert config.access_for("/") == "free"
    assert config.access_for("/about") == "free"
    assert config.access_for("/articles") == "free"  # the glob needs the slash


def test_access_for_first_match_wins(config_file: WriteConfig) -> None:
    rules = (
        "content:\n"
        "  default: premium\n"
        "  rules:\n"
        '    - {path: "/articles/free-*", access: free}\n'
        '    - {path: "/articles/*", access: metered}\n'
        '    - {path: "/articles/free-gift", access: premium}\n'
    )
    config = load_config(config_file("publication: X\n" + rules))
    assert config.access_for("/articles/free-gift") == "free"
    assert config.access_for("/articles/paid") == "metered"
    assert config.access_for("/opinion/x") == "premium"

    reordered = (
        rules.replace('    - {path: "/articles/free-*", access: free}\n', "")
        + '    - {path: "/articles/free-*", access: free}\n'
    )
    config = load_config(config_file("publication: X\n" + reordered))
    assert config.access_for("/articles/free-gift") == "metered"


def test_glob_character_classes(config_file: WriteConfig) -> None:
    config = load_config(
        config_file(
            "publication: X\ncontent:\n  rules:\n    - {path: '/20[0-9][0-9]/*', access: metered}\n"
        )
    )
    assert config.access_for("/2026/story") == "metered"
    assert config.access_for("/20ab/story") == "free"


# -- offers ----------------------------------------------------------------------------

OFFERS = """\
publication: X
offers:
  - id: spring
    headline: Spring sale
    url: https://shop.example.com/spring
    audience: [trial_expired, access_expired]
    starts: 2027-03-01
    ends: 2027-05-31
    price: 12
  - id: always
    headline: Always on
    url: /subscribe
"""


def test_offers_for_filters_by_audience(config_file: WriteConfig) -> None:
    config = load_config(config_file(OFFERS))
    day = date(2027, 4, 1)

    def ids(audience: Audience) -> list[str]:
        return [o["id"] for o in config.offers_for(audience, day)]

    assert ids(Audience.TRIAL_EXPIRED) == ids(Audience.ACCESS_EXPIRED) == ["spring", "always"]
    assert ids(Audience.ANONYMOUS) == ids(Audience.REGISTERED) == ["always"]


def test_offers_for_window_is_inclusive_on_both_edges(config_file: WriteConfig) -> None:
    config = load_config(config_file(OFFERS))

    def ids(day: date) -> list[str]:
        return [o["id"] for o in config.offers_for(Audience.TRIAL_EXPIRED, day)]

    assert ids(date(2027, 2, 28)) == ["always"]
    assert ids(date(2027, 3, 1)) == ["spring", "always"]
    assert ids(date(2027, 5, 31)) == ["spring", "always"]
    assert ids(date(2027, 6, 1)) == ["always"]


def test_offer_context_is_what_templates_see(config_file: WriteConfig) -> None:
    config = load_config(config_file(OFFERS))
    spring, always = config.offers_for(Audience.TRIAL_EXPIRED, date(2027, 3, 1))
    assert spring == {
        "id": "spring",
        "headline": "Spring sale",
        "url": "https://shop.example.com/spring",
        "click_url": "https://shop.example.com/spring",  # counted via the paywall with analytics
        "starts": "March 1st",
        "ends": "May 31st",
        "price": 12,
    }
    assert always["ends"] == ""


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2027, 6, 30), "June 30th"),
        (date(2027, 6, 1), "June 1st"),
        (date(2027, 6, 2), "June 2nd"),
        (date(2027, 6, 3), "June 3rd"),
        (date(2027, 6, 4), "June 4th"),
        (date(2027, 6, 11), "June 11th"),
        (date(2027, 6, 12), "June 12th"),
        (date(2027, 6, 13), "June 13th"),
        (date(2027, 6, 21), "June 21st"),
        (date(2027, 6, 22), "June 22nd"),
        (date(2027, 6, 23), "June 23rd"),
        (date(2027, 12, 31), "December 31st"),
    ],
)
def test_human_date(day: date, text: str) -> None:
    assert human_date(day) == text


# -- LiveConfig ------------------------------------------------------------------------


def bump(path: Path, seconds: int = 10) -> None:
    """Move the file's mtime forward explicitly: file systems with coarse timestamps
    would otherwise hide an edit made within the same tick."""
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + seconds * 1_000_000_000))


def test_live_config_picks_up_an_edit(
    config_file: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file()
    live = LiveConfig(path)
    first = live.current()
    assert first.limit == 3

    path.write_text(path.read_text().replace("  limit: 3", "  limit: 8"), encoding="utf-8")
    bump(path)
    # Within the check interval the old version is still served ...
    assert live.current() is first
    # ... and once the interval has passed, the new one.
    later = time.monotonic() + RELOAD_CHECK_SECONDS + 1
    monkeypatch.setattr("paywall.config.time.monotonic", lambda: later)
    assert live.current().limit == 8


def test_store_and_key_settings_wait_for_a_restart(
    config_file: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    path = config_file()
    live = LiveConfig(path)
    first = live.current()
    text = (
        path.read_text()
        .replace("  timeout_ms: 1000", "  timeout_ms: 50")
        .replace("  limit: 3", "  limit: 8")
    )
    path.write_text(text, encoding="utf-8")
    bump(path)
    live._next_check = 0
    with caplog.at_level(logging.WARNING, logger="paywall"):
        now = live.current()
    assert now.limit == 8  # the rest of the edit is live ...
    assert now.startup == first.startup  # ... the store's settings are the running ones
    assert now.startup.store_timeout == 1.0
    assert "take effect on restart" in caplog.text


def test_live_config_without_changes_keeps_the_same_object(config_file: WriteConfig) -> None:
    live = LiveConfig(config_file())
    first = live.current()
    live._next_check = 0
    assert live.current() is first


def test_live_config_bad_edit_keeps_the_old_version_and_logs_once(
    base: str, config_file: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    path = config_file()
    live = LiveConfig(path)
    good = live.current()

    bad_text = base.replace("Asia/Tokyo", "Atlantis/Capital")
    path.write_text(bad_text, encoding="utf-8")
    bump(path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="paywall"):
        live._next_check = 0
        assert live.current() is good
        live._next_check = 0
        assert live.current() is good  # unchanged since: no second error

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert f"{path}:{line_with(bad_text, 'Atlantis')}: meter.timezone" in message

    # Fixing the file brings the new version in.
    path.write_text(base.replace("  limit: 3", "  limit: 6"), encoding="utf-8")
    bump(path, 20)
    live._next_check = 0
    assert live.current().limit == 6


def test_live_config_picks_up_a_template_edit(
    base: str, config_file: WriteConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    meter = folder / "meter.html"
    meter.write_text("<p>{{numberArticlesLeft}} left, version one</p>", encoding="utf-8")
    live = LiveConfig(config_file(base + "templates: prompts\n"))
    context = {"numberArticlesLeft": 2}
    assert "2 left, version one" in live.current().prompts.render("meter", context)

    meter.write_text("<p>{{numberArticlesLeft}} left, version two</p>", encoding="utf-8")
    bump(meter)
    live._next_check = 0
    assert "2 left, version two" in live.current().prompts.render("meter", context)

    # A broken template edit is rejected and logged with the template's file and line.
    meter.write_text("<p>ok</p>\n<p>{{#offers}} never closed</p>", encoding="utf-8")
    bump(meter, 20)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="paywall"):
        live._next_check = 0
        assert "version two" in live.current().prompts.render("meter", context)
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"{meter}:2:" in error.getMessage()


def test_live_config_picks_up_a_new_template_file(
    base: str, config_file: WriteConfig, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    live = LiveConfig(config_file(base + "templates: prompts\n"))
    context = {"period": "month"}
    assert "This is your last free article this month" in live.current().prompts.render(
        "last-free", context
    )
    (folder / "last-free.html").write_text("<p>Final freebie this {{period}}</p>")
    live._next_check = 0
    assert "Final freebie this month" in live.current().prompts.render("last-free", context)


def test_registered_limit_defaults_to_the_limit(config_file: WriteConfig) -> None:
    config = load_config(config_file())
    assert config.registered_limit == config.limit == 3
    assert config.registration_wall is False and config.register_url == "/signin"
    text = CONFIG.replace(
        "  limit: 3\n", "  limit: 3\n  registered_limit: 8\n  registration_wall: true\n"
    )
    custom = load_config(config_file(text + "register_url: /join\n"))
    assert (custom.registered_limit, custom.registration_wall, custom.register_url) == (
        8,
        True,
        "/join",
    )


def test_registration_settings_are_validated(config_file: WriteConfig) -> None:
    text = CONFIG.replace(
        "  limit: 3\n", "  limit: 3\n  registered_limit: -2\n  registration_wall: maybe\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(text + "register_url: javascript:x\n"))
    message = str(caught.value)
    assert "meter.registered_limit" in message and "meter.registration_wall" in message
    assert "register_url" in message


def test_check_refuses_a_store_url_it_cannot_use(config_file: WriteConfig) -> None:
    text = CONFIG.replace('  prefix: "PREFIX"\n', '  prefix: "PREFIX"\n  url: http://cache:6379\n')
    with pytest.raises(ConfigError, match=r"store\.url: unknown store URL"):
        load_config(config_file(text))


# -- analytics, metrics and the paywall's own routes (docs/analytics.md) ------------------


def test_analytics_keys_default_to_off(config_file: WriteConfig) -> None:
    config = load_config(config_file())
    settings = config.analytics
    assert (settings.enabled, settings.metrics, settings.serves) == (False, False, False)
    assert (settings.prefix, settings.flush_seconds, settings.retention_days) == (
        "/paywall",
        5,
        400,
    )
    assert settings.admin_token_env == "PAYWALL_ADMIN_TOKEN"
    assert [rule.section for rule in config.rules] == ["/sponsored/*", "/premium/*", "/articles/*"]


def test_analytics_keys_are_read(base: str, config_file: WriteConfig) -> None:
    text = base.replace("access: metered}", "access: metered, section: News}") + (
        "endpoints: {prefix: /_paywall/}\n"
        "analytics: {enabled: true, flush_seconds: 0.5, retention_days: 90}\n"
        "metrics: {enabled: true}\n"
        "admin: {token_env: OPS_TOKEN}\n"
    )
    config = load_config(config_file(text))
    settings = config.analytics
    assert (settings.enabled, settings.metrics, settings.prefix) == (True, True, "/_paywall")
    assert (settings.flush_seconds, settings.retention_days) == (0.5, 90)
    assert settings.admin_token_env == "OPS_TOKEN"
    assert config.section_for("/articles/x", "metered") == "News"
    assert config.section_for("/elsewhere", "free") == "default"


@pytest.mark.parametrize(
    ("extra", "needle", "key", "message"),
    [
        ("analytics: {flush_seconds: 0}\n", "flush_seconds", "analytics.flush_seconds", "≥ 0.1"),
        ("analytics: {retention_days: 0}\n", "retention", "analytics.retention_days", "≥ 1"),
        ("analytics: {enabled: yes please}\n", "yes please", "analytics.enabled", "true or false"),
        ("analytics: {sample: 1}\n", "sample", "analytics.sample", "unknown key"),
        ("metrics: {enabled: 1}\n", "metrics", "metrics.enabled", "true or false"),
        ("endpoints: {prefix: paywall}\n", "prefix: paywall", "endpoints.prefix", "like /paywall"),
        ("endpoints: {prefix: '/pay wall'}\n", "pay wall", "endpoints.prefix", "like /paywall"),
        ("admin: {token_env: 'my token'}\n", "my token", "admin.token_env", "environment variable"),
    ],
)
def test_bad_analytics_keys_name_the_key(
    base: str, config_file: WriteConfig, extra: str, needle: str, key: str, message: str
) -> None:
    check_bad(config_file, base + extra, needle, key, message)


def test_rule_sections_and_offer_click_urls_are_checked(
    base: str, config_file: WriteConfig
) -> None:
    text = base.replace("access: metered}", "access: metered, section: '  '}")
    check_bad(config_file, text, "section:", "content.rules[2].section", "must not be empty")
    text = base.replace("    ends: 2099-06-30\n", "    ends: 2099-06-30\n    click_url: /x\n")
    check_bad(config_file, text, "click_url", "offers[0].click_url", "the paywall's own")


def test_every_start_and_reload_is_told_with_its_hash_and_diff(
    base: str, config_file: WriteConfig
) -> None:
    path = config_file()
    live = LiveConfig(path)
    changes: list[ConfigChange] = []
    live.listeners.append(changes.append)
    assert live.started.result == "start" and live.started.hash == live.hash
    path.write_text(base.replace("  limit: 3", "  limit: 5"), encoding="utf-8")
    bump(path)
    live._next_check = 0
    live.current()
    path.write_text(base.replace("  limit: 3", "  limit: many"), encoding="utf-8")
    bump(path, 20)
    live._next_check = 0
    live.current()
    ok, rejected = changes
    assert (ok.result, ok.previous) == ("ok", live.started.hash)
    assert ok.hash == live.hash != live.started.hash
    assert "-  limit: 3" in ok.diff and "+  limit: 5" in ok.diff
    assert (rejected.result, rejected.previous) == ("rejected", ok.hash)
    assert "+  limit: many" in rejected.diff and "-  limit: 5" in rejected.diff
    assert any("meter.limit" in problem for problem in rejected.problems)
    assert live.hash == ok.hash  # the good version keeps serving
