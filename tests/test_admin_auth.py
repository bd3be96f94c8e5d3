"""Who gets into the dashboard: the token, the signed session, the origin and form checks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from paywall.admin.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    AdminAuth,
    TokenSource,
    cookie,
    login_nonce,
    login_nonce_ok,
    same_origin,
)

TOKEN = "a-token-long-enough-1234"
NOW = 1_800_000_000.0


def scope(**headers: str) -> dict[str, Any]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "headers": raw}


def with_session(value: str) -> dict[str, Any]:
    return scope(cookie=f"other=1; {SESSION_COOKIE}={value}")


def test_the_token_matches_only_itself() -> None:
    auth = AdminAuth(TOKEN)
    assert auth.token_ok(TOKEN)
    for wrong in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "ä" * 24):
        assert not auth.token_ok(wrong)


def test_a_bearer_header_is_checked_and_its_absence_is_told_apart() -> None:
    auth = AdminAuth(TOKEN)
    assert auth.bearer_ok(scope()) is None
    assert auth.bearer_ok(scope(authorization=f"Bearer {TOKEN}")) is True
    assert auth.bearer_ok(scope(authorization=f"bearer  {TOKEN} ")) is True
    assert auth.bearer_ok(scope(authorization=f"Basic {TOKEN}")) is False
    assert auth.bearer_ok(scope(authorization="Bearer nope")) is False


def test_a_session_holds_no_token_and_lasts_its_lifetime() -> None:
    now = [NOW]
    auth = AdminAuth(TOKEN, clock=lambda: now[0])
    value = auth.new_session()
    assert TOKEN not in value
    assert auth.session(with_session(value)) == value
    now[0] += SESSION_SECONDS - 1
    assert auth.session(with_session(value)) == value
    now[0] += 2
    assert auth.session(with_session(value)) is None


def test_a_session_signed_by_another_token_or_edited_is_refused() -> None:
    auth = AdminAuth(TOKEN, clock=lambda: NOW)
    other = AdminAuth(TOKEN + "-other", clock=lambda: NOW).new_session()
    assert auth.session(with_session(other)) is None
    session_id, expires, mac = auth.new_session().split(".")
    for edited in (f"{session_id}.{int(expires) * 2}.{mac}", f"{session_id}x.{expires}.{mac}",
                   f"{session_id}.{expires}.{mac[:-2]}", "no-dots", ""):  # fmt: skip
        assert auth.session(with_session(edited)) is None
    assert auth.session(scope()) is None


def test_the_logout_token_belongs_to_one_session() -> None:
    auth = AdminAuth(TOKEN, clock=lambda: NOW)
    one, two = auth.new_session(), auth.new_session()
    assert auth.logout_ok(one, auth.logout_token(one))
    assert not auth.logout_ok(one, auth.logout_token(two))
    assert not auth.logout_ok(one, "")


def test_the_login_nonce_must_match_its_cookie() -> None:
    nonce = login_nonce()
    assert login_nonce_ok(scope(cookie=f"{LOGIN_COOKIE}={nonce}"), nonce)
    assert not login_nonce_ok(scope(cookie=f"{LOGIN_COOKIE}={nonce}"), login_nonce())
    assert not login_nonce_ok(scope(), nonce)
    assert not login_nonce_ok(scope(cookie=f"{LOGIN_COOKIE}="), "")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "news.test", "origin": "https://news.test"}, True),
        ({"host": "news.test:8443", "origin": "https://news.test:8443"}, True),
        ({"host": "news.test", "referer": "https://news.test/paywall/admin/login"}, True),
        ({"host": "app", "x_forwarded_host": "news.test", "origin": "https://news.test"}, True),
        ({"host": "news.test", "origin": "https://evil.test"}, False),
        ({"host": "news.test", "origin": "https://news.test.evil.test"}, False),
        ({"host": "news.test", "origin": "null"}, False),
        ({"host": "news.test"}, False),
        ({"host": "news.test", "origin": "https://x.test", "referer": "https://news.test"}, False),
    ],
)
def test_state_changes_come_only_from_this_host(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(scope(**headers)) is expected


def test_cookies_are_http_only_strict_scoped_and_secure_on_https() -> None:
    made = cookie("name", "v", path="/paywall/admin/", secure=True, max_age=60).decode()
    assert made == "name=v; Max-Age=60; Path=/paywall/admin/; HttpOnly; SameSite=Strict; Secure"
    plain = cookie("name", "", path="/x/", secure=False, max_age=0).decode()
    assert "Secure" not in plain and "Max-Age=0" in plain


def test_the_token_comes_from_the_environment_and_must_be_long(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = TokenSource()
    monkeypatch.delenv("ADMIN_T", raising=False)
    assert tokens.auth("ADMIN_T") is None
    monkeypatch.setenv("ADMIN_T", "   ")
    assert tokens.auth("ADMIN_T") is None
    monkeypatch.setenv("ADMIN_T", "too-short")
    with caplog.at_level(logging.WARNING, logger="paywall"):
        assert tokens.auth("ADMIN_T") is None
        assert tokens.auth("ADMIN_T") is None
    assert [r.message for r in caplog.records].count(
        "paywall: ADMIN_T is shorter than 16 characters; the dashboard stays off"
    ) == 1
    monkeypatch.setenv("ADMIN_T", f" {TOKEN} ")
    first = tokens.auth("ADMIN_T")
    assert first is not None and first.token_ok(TOKEN)
    assert tokens.auth("ADMIN_T") is first
    monkeypatch.setenv("ADMIN_T", TOKEN + "-new")
    second = tokens.auth("ADMIN_T")
    assert second is not None and second is not first and not second.token_ok(TOKEN)
