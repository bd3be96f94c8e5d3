"""The reader cookie and the signed-in account."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paywall.identity import MissingSecretError, ReaderCookie, account_of, secret_keys


def cookie_for(keys: list[str]) -> ReaderCookie:
    return ReaderCookie(keys, "paywall_rid", secure=True, max_age=86400)


def request_with(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", b"theme=dark; paywall_rid=" + value + b"; lang=en")]


def test_a_signed_cookie_identifies_the_same_reader() -> None:
    cookie = cookie_for(["k1"])
    first = cookie.identify([], None)
    assert first.cookie is not None
    header = cookie.header(first.cookie)
    value = header.split(b";")[0].split(b"=", 1)[1]
    again = cookie.identify(request_with(value), None)
    assert again.reader.reader_id == first.reader.reader_id and again.cookie is None


def test_header_flags() -> None:
    header = cookie_for(["k1"]).header("a" * 22).decode()
    assert header.startswith("paywall_rid=") and "; Secure" in header
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=86400" in header
    insecure = ReaderCookie(["k1"], "rid", secure=False, max_age=60).header("a" * 22).decode()
    assert "Secure" not in insecure


@pytest.mark.parametrize(
    "value", [b"", b"garbage", b"a" * 22 + b".bad", b"\xff\xfe", b"x" * 4000, b"short.sig"]
)
def test_garbage_is_a_new_reader(value: bytes) -> None:
    found = cookie_for(["k1"]).identify(request_with(value), None)
    assert found.cookie is not None and len(found.reader.reader_id) >= 16


def test_a_cookie_signed_with_another_key_is_a_new_reader() -> None:
    stranger = cookie_for(["someone-else"])
    value = stranger.header("a" * 22).split(b";")[0].split(b"=", 1)[1]
    assert cookie_for(["k1"]).identify(request_with(value), None).reader.reader_id != "a" * 22


def test_old_keys_verify_and_the_first_key_re_signs() -> None:
    old_value = cookie_for(["old"]).header("a" * 22).split(b";")[0].split(b"=", 1)[1]
    found = cookie_for(["new", "old"]).identify(request_with(old_value), None)
    assert found.reader.reader_id == "a" * 22 and found.cookie == "a" * 22


def test_secret_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEYS", " new , old ,")
    assert secret_keys("MY_KEYS") == ["new", "old"]
    monkeypatch.setenv("MY_KEYS", " , ")
    with pytest.raises(MissingSecretError, match="MY_KEYS"):
        secret_keys("MY_KEYS")


def test_account_comes_from_an_authenticated_user_only() -> None:
    user = SimpleNamespace(is_authenticated=True, identity="acct-42")
    assert account_of({"user": user}) == "acct-42"
    assert account_of({"user": SimpleNamespace(is_authenticated=False, identity="x")}) is None
    assert account_of({}) is None


def test_article_id_key_survives_prepending_a_new_signing_key() -> None:
    from paywall.identity import article_id_key

    assert article_id_key(["old"]) == article_id_key(["new", "old"])
    assert article_id_key(["new"]) != article_id_key(["old"])
    assert article_id_key(["old"]) != b"old"  # derived, not the signing key itself


def test_a_reader_signed_in_without_a_cookie_gets_the_accounts_own_id() -> None:
    from paywall.identity import account_reader_id

    cookie = cookie_for(["new", "old"])
    first = cookie.identify([], "acct-42")
    again = cookie.identify([], "acct-42")  # another device, or a client keeping no cookies
    assert first.new and first.reader.reader_id == again.reader.reader_id
    assert first.reader.reader_id == account_reader_id(["new", "old"], "acct-42")
    assert len(first.reader.reader_id) == 16 and first.cookie is not None
    assert cookie.identify([], "acct-43").reader.reader_id != first.reader.reader_id
    assert account_reader_id(["other"], "acct-42") != first.reader.reader_id  # keyed
    assert account_reader_id(["newest", "old"], "acct-42") == first.reader.reader_id  # oldest key
    # The cookie it sets carries that id: the next view is the same reader.
    value = cookie.header(first.cookie).split(b";")[0].split(b"=", 1)[1]
    assert (
        cookie.identify(request_with(value), "acct-42").reader.reader_id == first.reader.reader_id
    )


def test_anonymous_ids_come_from_mint() -> None:
    cookie = ReaderCookie(["k1"], "paywall_rid", secure=True, max_age=60, mint=lambda: "m" * 16)
    assert cookie.identify([], None).reader.reader_id == "m" * 16
