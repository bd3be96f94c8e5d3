"""Preview tokens and what they show: each prompt's state for the article the token names,
under the arms it names, until it expires; nothing for another article, a tampered token,
or one signed with another admin token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from paywall.config import load_config
from paywall.decision import Result
from paywall.names import Audience, Prompt
from paywall.settings import Config
from paywall.sharing.cli import preview_url
from paywall.sharing.previews import (
    PREVIEW_PARAMETER,
    MissingAdminToken,
    Preview,
    PreviewTokens,
    preview_token,
    previewed,
    shown,
)

from .conftest import SECRET

ADMIN_TOKEN = "an-admin-token-of-some-length"
NOW = datetime(2027, 1, 5, 3, 0, tzinfo=UTC)
ARTICLE = "/articles/story"
EXTRA = """\
meter:
  limit: 3
  registration_wall: true
  period: month
  timezone: Asia/Tokyo
gifts: {per_period: 4}
experiments:
  - id: wording
    starts: 2027-01-01
    arms:
      - {name: control, weight: 50}
      - {name: short, weight: 50, meter: {limit: 2}, teaser_paragraphs: 1}
"""


@pytest.fixture
def config(config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", ADMIN_TOKEN)
    text = config_file().read_text(encoding="utf-8")
    start, end = text.index("meter:"), text.index("content:")
    return load_config(config_file(text[:start] + EXTRA + text[end:]))


def token_of(url: str) -> str:
    found = preview_token(url.split("?", 1)[1].encode())
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("prompt", "result", "audience"),
    [
        (Prompt.METER, Result.BANNER, Audience.ANONYMOUS),
        (Prompt.LAST_FREE, Result.LAST_FREE, Audience.ANONYMOUS),
        (Prompt.SUBSCRIBE, Result.WALLED_LIMIT, Audience.ANONYMOUS),
        (Prompt.REGISTER, Result.REGISTER_WALL, Audience.ANONYMOUS),
        (Prompt.TRIAL_EXPIRED, Result.WALLED_LIMIT, Audience.TRIAL_EXPIRED),
        (Prompt.ACCESS_EXPIRED, Result.WALLED_LIMIT, Audience.ACCESS_EXPIRED),
        (Prompt.GIFTED, Result.GIFT, Audience.ANONYMOUS),
        (Prompt.GIFT, Result.ENTITLED, None),
    ],
)
def test_a_preview_link_shows_its_prompt(
    config: Config, prompt: Prompt, result: Result, audience: Audience | None
) -> None:
    url = preview_url(config, ARTICLE, prompt, now=NOW)
    assert url.startswith(f"{ARTICLE}?{PREVIEW_PARAMETER}=")
    decision = previewed(config, token_of(url), ARTICLE, ARTICLE, "metered", NOW)
    assert decision is not None and decision.preview
    assert (decision.prompt, decision.result, decision.audience) == (prompt, result, audience)


def test_the_meter_preview_leaves_articles_and_the_last_free_none(config: Config) -> None:
    meter = shown(config, Prompt.METER, "metered", NOW)
    last = shown(config, Prompt.LAST_FREE, "metered", NOW)
    assert meter.context is not None and meter.context.articles_left == 2
    assert last.context is not None and last.context.articles_left == 0


def test_a_premium_page_previews_the_premium_wall(config: Config) -> None:
    decision = shown(config, Prompt.SUBSCRIBE, "premium", NOW)
    assert decision.result is Result.WALLED_PREMIUM
    assert decision.context is not None and not decision.context.limit_used


def test_the_gift_control_preview_has_every_gift_left(config: Config) -> None:
    decision = shown(config, Prompt.GIFT, "metered", NOW, article_path="/articles/story")
    assert decision.context is not None
    assert (decision.context.gifts_left, decision.context.article_path) == (4, "/articles/story")


def test_an_arm_is_shown_with_its_settings(config: Config) -> None:
    url = preview_url(config, ARTICLE, Prompt.METER, (("wording", "short"),), now=NOW)
    decision = previewed(config, token_of(url), ARTICLE, ARTICLE, "metered", NOW)
    assert decision is not None and decision.variant is not None
    assert decision.variant.arms == (("wording", "short"),)
    assert decision.context is not None and decision.context.limit == 2


def test_a_link_expires(config: Config) -> None:
    url = preview_url(config, ARTICLE, Prompt.SUBSCRIBE, minutes=10, now=NOW)
    token = token_of(url)
    assert previewed(config, token, ARTICLE, ARTICLE, "metered", NOW + timedelta(minutes=9))
    assert not previewed(config, token, ARTICLE, ARTICLE, "metered", NOW + timedelta(minutes=10))


def test_a_link_shows_nothing_on_another_article(config: Config) -> None:
    token = token_of(preview_url(config, ARTICLE, Prompt.SUBSCRIBE, now=NOW))
    assert previewed(config, token, "/articles/other", "/articles/other", "metered", NOW) is None


def test_a_tampered_or_foreign_token_shows_nothing(config: Config) -> None:
    token = token_of(preview_url(config, ARTICLE, Prompt.SUBSCRIBE, now=NOW))
    changed = ("A" if token[0] != "A" else "B") + token[1:]
    assert previewed(config, changed, ARTICLE, ARTICLE, "metered", NOW) is None
    later = int((NOW + timedelta(days=365)).timestamp())
    foreign = PreviewTokens(["another-admin-token-entirely"]).sign(
        ARTICLE, Preview(Prompt.SUBSCRIBE, (), later, b"")
    )
    assert previewed(config, foreign, ARTICLE, ARTICLE, "metered", NOW) is None


def test_a_link_is_signed_with_the_cookie_keys_too(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed with the admin token alone, a leaked link would let anyone test guesses of it
    offline."""
    token = token_of(preview_url(config, ARTICLE, Prompt.SUBSCRIBE, now=NOW))
    later = int((NOW + timedelta(days=1)).timestamp())
    admin_only = PreviewTokens([ADMIN_TOKEN]).sign(
        ARTICLE, Preview(Prompt.SUBSCRIBE, (), later, b"")
    )
    assert previewed(config, admin_only, ARTICLE, ARTICLE, "metered", NOW) is None
    monkeypatch.setenv("PAYWALL_SECRET_KEYS", "a-new-cookie-key," + SECRET)  # rotation
    assert previewed(config, token, ARTICLE, ARTICLE, "metered", NOW) is not None
    monkeypatch.setenv("PAYWALL_SECRET_KEYS", "a-new-cookie-key")  # the old key dropped
    assert previewed(config, token, ARTICLE, ARTICLE, "metered", NOW) is None
    monkeypatch.delenv("PAYWALL_SECRET_KEYS")
    with pytest.raises(MissingAdminToken, match="PAYWALL_SECRET_KEYS"):
        preview_url(config, ARTICLE, Prompt.SUBSCRIBE, now=NOW)


def test_changing_the_admin_token_ends_every_link(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_of(preview_url(config, ARTICLE, Prompt.SUBSCRIBE, now=NOW))
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", "a-brand-new-admin-token-value")
    assert previewed(config, token, ARTICLE, ARTICLE, "metered", NOW) is None
    monkeypatch.delenv("PAYWALL_ADMIN_TOKEN")
    assert previewed(config, token, ARTICLE, ARTICLE, "metered", NOW) is None
    with pytest.raises(MissingAdminToken, match="PAYWALL_ADMIN_TOKEN"):
        preview_url(config, ARTICLE, Prompt.SUBSCRIBE, now=NOW)


@pytest.mark.parametrize(
    ("path", "arms", "message"),
    [
        ("/about", (), "free to read"),
        ("https://elsewhere.example/articles/x", (), "not a path of this site"),
        ("//elsewhere.example/articles/x", (), "not a path of this site"),
        (ARTICLE, (("nope", "short"),), "no experiment 'nope'"),
        (ARTICLE, (("wording", "long"),), "has no arm 'long'"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    config: Config, path: str, arms: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        preview_url(config, path, Prompt.SUBSCRIBE, arms, now=NOW)


def test_prompts_the_config_never_shows_are_refused(
    config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYWALL_ADMIN_TOKEN", ADMIN_TOKEN)
    plain = load_config(config_file())
    with pytest.raises(ValueError, match="gifts"):
        preview_url(plain, ARTICLE, Prompt.GIFTED, now=NOW)
    with pytest.raises(ValueError, match="registration_wall"):
        preview_url(plain, ARTICLE, Prompt.REGISTER, now=NOW)
