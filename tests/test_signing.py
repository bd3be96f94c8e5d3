"""CookieSigner: itsdangerous's cookie format exactly, so cookies survive the upgrade both ways."""

from __future__ import annotations

import pytest
from itsdangerous import BadSignature, Signer

from paywall.signing import CookieSigner


def reference(keys: list[str], salt: str) -> Signer:
    """itsdangerous's own Signer as the paywall used it before: it signs with its last key."""
    return Signer(list(reversed(keys)), salt=salt)


@pytest.mark.parametrize("value", [b"", b"abc", b"Zx9_-reader-id-1234", b"id|mark", b"\xff" * 40])
def test_signatures_match_itsdangerous_both_ways(value: bytes) -> None:
    keys = ["new-key", "old-key"]
    ours, theirs = CookieSigner(keys, "paywall.reader"), reference(keys, "paywall.reader")
    assert ours.sign(value) == theirs.sign(value)
    assert theirs.unsign(ours.sign(value)) == value
    assert ours.unsign(theirs.sign(value)) == value


def test_every_key_verifies_and_the_first_signs() -> None:
    old = CookieSigner(["old-key"], "paywall.reader").sign(b"reader")
    rotated = CookieSigner(["new-key", "old-key"], "paywall.reader")
    assert rotated.unsign(old) == b"reader"
    assert rotated.sign(b"reader") == CookieSigner(["new-key"], "paywall.reader").sign(b"reader")
    with pytest.raises(BadSignature):
        CookieSigner(["new-key"], "paywall.reader").unsign(old)  # the old key was dropped


def test_salt_separates_cookies() -> None:
    reader = CookieSigner(["k"], "paywall.reader").sign(b"payload")
    with pytest.raises(BadSignature):
        CookieSigner(["k"], "paywall.summary").unsign(reader)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1] + (b"A" if s[-1:] != b"A" else b"B"),  # one character of the MAC
        lambda s: b"x" + s,  # the value
        lambda s: s.split(b".")[0] + b".",  # no MAC
        lambda s: s.split(b".")[0] + b".!!!$$$",  # not base64
        lambda s: s.split(b".")[0] + b".A",  # truncated, bad padding
        lambda s: s.split(b".")[0],  # no separator
    ],
)
def test_tampered_values_are_refused(tamper: object) -> None:
    signer = CookieSigner(["k"], "paywall.reader")
    signed = signer.sign(b"reader-id")
    assert callable(tamper)
    with pytest.raises(BadSignature):
        signer.unsign(tamper(signed))
    with pytest.raises(BadSignature):  # and itsdangerous agrees
        reference(["k"], "paywall.reader").unsign(tamper(signed))


def test_unsign_current_says_which_key_signed() -> None:
    rotated = CookieSigner(["new-key", "old-key"], "paywall.reader")
    old = CookieSigner(["old-key"], "paywall.reader").sign(b"reader")
    assert rotated.unsign_current(rotated.sign(b"reader")) == (b"reader", True)
    assert rotated.unsign_current(old) == (b"reader", False)  # valid, worth re-signing
    assert rotated.unsign_current(b"reader.not-a-mac") is None
    assert rotated.unsign_current(b"no separator") is None
