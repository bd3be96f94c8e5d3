"""Gift tokens: a link opens the one article it was made for until it expires; a changed,
truncated, foreign or moved token opens nothing; rotation keeps old links working."""

from __future__ import annotations

import pytest

from paywall.sharing.gifts import GiftTokens, gift_token

KEYS = ["current-key"]
NOW = 1_800_000_000
ARTICLE = "/articles/harbour-ferries"


@pytest.fixture
def tokens() -> GiftTokens:
    return GiftTokens(KEYS)


def test_a_token_opens_its_article_until_it_expires(tokens: GiftTokens) -> None:
    token = tokens.sign(ARTICLE, NOW + 3600)
    assert tokens.opens(token, ARTICLE, NOW)
    assert tokens.opens(token, ARTICLE, NOW + 3599)
    assert not tokens.opens(token, ARTICLE, NOW + 3600)


def test_a_token_opens_no_other_article(tokens: GiftTokens) -> None:
    token = tokens.sign(ARTICLE, NOW + 3600)
    assert not tokens.opens(token, "/articles/another-story", NOW)
    assert not tokens.opens(token, ARTICLE + "/", NOW)  # article ids are exact: the caller's


def test_a_token_is_short_and_names_no_one(tokens: GiftTokens) -> None:
    token = tokens.sign(ARTICLE, NOW + 3600)
    assert len(token) < 60
    assert "harbour" not in token


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t[:-1],  # a signature cut short
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: ("B" if t[0] != "B" else "C") + t[1:],  # the payload changed (a later expiry)
        lambda t: t.split(".")[0],  # no signature
        lambda t: "",
        lambda t: t + "." + t,
        lambda t: "é" + t,
        lambda t: t * 5,  # too long to read
    ],
)
def test_a_tampered_token_opens_nothing(tokens: GiftTokens, change: object) -> None:
    token = tokens.sign(ARTICLE, NOW + 3600)
    assert callable(change)
    assert not tokens.opens(change(token), ARTICLE, NOW)


def test_a_token_from_other_keys_opens_nothing(tokens: GiftTokens) -> None:
    foreign = GiftTokens(["someone-elses-key"]).sign(ARTICLE, NOW + 3600)
    assert not tokens.opens(foreign, ARTICLE, NOW)


def test_old_links_keep_working_across_a_key_rotation() -> None:
    old = GiftTokens(["old-key"]).sign(ARTICLE, NOW + 3600)
    rotated = GiftTokens(["new-key", "old-key"])
    assert rotated.opens(old, ARTICLE, NOW)
    assert not GiftTokens(["new-key"]).opens(old, ARTICLE, NOW)  # the old key dropped


def test_the_gift_parameter_is_found_in_a_query() -> None:
    assert gift_token(b"gift=abc.def") == "abc.def"
    assert gift_token(b"page=2&gift=abc.def&x=1") == "abc.def"
    assert gift_token(b"nogift=abc") is None
    assert gift_token(b"page=2") is None
    assert gift_token(b"") is None
