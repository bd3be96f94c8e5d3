"""Which referral rule a request's Referer matches: the first rule for the referring host,
never the site's own pages, and nothing for a missing or malformed header."""

from __future__ import annotations

from typing import Any

import pytest

from paywall.sharing.referrals import referral_of
from paywall.sharing.schema import Referral, Sharing, host_regex

SHARING = Sharing(
    referrals=(
        Referral("*.google.*", host_regex("*.google.*"), 3, 0),
        Referral("t.co", host_regex("t.co"), 1, 1),
    )
)


def scope(referer: str | None, host: str = "news.example") -> dict[str, Any]:
    headers = [(b"host", host.encode())]
    if referer is not None:
        headers.append((b"referer", referer.encode("latin-1")))
    return {"type": "http", "headers": headers}


@pytest.mark.parametrize(
    ("referer", "argument"),
    [
        ("https://www.google.com/", "0:3"),
        ("https://news.google.co.uk/stories/x?y=1", "0:3"),
        ("https://WWW.GOOGLE.COM/", "0:3"),
        ("https://www.google.com.:443/", "0:3"),
        ("https://t.co/abc", "1:1"),
        ("http://t.co", "1:1"),
        ("https://www.bing.com/", ""),
        ("https://www.google.evil/", "0:3"),  # a pattern matches names, not who owns them
        ("android-app://com.google.android.googlequicksearchbox/", "0:3"),  # Discover's app
        ("https://notgoogle.com/", ""),
        ("not a url", ""),
        ("https://[::1/", ""),  # a malformed IPv6 literal
        ("https://t.co:99999/", "1:1"),
        ("", ""),
        (None, ""),
    ],
)
def test_the_referring_site_picks_the_rule(referer: str | None, argument: str) -> None:
    assert referral_of(SHARING, scope(referer)) == argument


def test_the_sites_own_pages_are_not_referrals() -> None:
    own = Sharing(referrals=(Referral("*", host_regex("*"), 5, 0),))
    assert referral_of(own, scope("https://news.example/home")) == ""
    assert referral_of(own, scope("https://news.example:8443/home", "news.example:8443")) == ""
    assert referral_of(own, scope("https://elsewhere.example/")) == "0:5"


def test_an_overlong_referer_is_ignored() -> None:
    assert referral_of(SHARING, scope("https://t.co/" + "a" * 5000)) == ""
