"""Offer-link refs: short, signed, no reader in them, readable with any current key."""

from __future__ import annotations

import base64
from datetime import date

from paywall.analytics.refs import MAX_REF_CHARS, Ref, RefSigner

REF = Ref("subscribe", "trial-3m", "news", date(2027, 1, 5))


def test_a_ref_round_trips_and_is_short() -> None:
    signer = RefSigner(["new", "old"])
    text = signer.sign(REF)
    assert len(text) < 100 and text == signer.sign(REF)  # the same view, the same ref
    assert signer.read(text) == REF
    with_arm = Ref("subscribe", "trial-3m", "news", date(2027, 1, 5), arm="b")
    assert signer.read(signer.sign(with_arm)) == with_arm


def test_every_key_reads_and_the_first_signs() -> None:
    old = RefSigner(["old"]).sign(REF)
    rotated = RefSigner(["new", "old"])
    assert rotated.read(old) == REF
    assert RefSigner(["old"]).read(rotated.sign(REF)) is None


def test_anything_else_is_no_ref() -> None:
    signer = RefSigner(["key"])
    payload, signature = signer.sign(REF).split(".")
    other = signer.sign(Ref("subscribe", "annual", "news", date(2027, 1, 5))).split(".")[0]
    for text in (
        f"{other}.{signature}",  # another offer under this ref's signature
        f"{payload}.",
        "",
        "x" * (MAX_REF_CHARS + 1),
        RefSigner(["someone else"]).sign(REF),
        signer._serializer.dumps({"offer": "x"}),  # signed, but not a ref's shape
        signer._serializer.dumps(["a", "b", "c", "2027-13-45"]),
    ):
        assert signer.read(text) is None, text


def test_a_ref_names_what_was_shown_and_nothing_about_the_reader() -> None:
    payload = RefSigner(["key"]).sign(REF).split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert decoded == '["subscribe","trial-3m","news","20270105"]'


def test_a_ref_carries_the_arms_of_the_wall_it_came_from() -> None:
    signer = RefSigner(["key"])
    two = Ref("subscribe", "trial-3m", "news", date(2027, 1, 5), arm="limit-3-vs-5=five,copy=b")
    assert signer.read(signer.sign(two)).arms == [("limit-3-vs-5", "five"), ("copy", "b")]  # type: ignore[union-attr]
    assert REF.arms == [] and Ref("p", "o", "s", date(2027, 1, 5), arm="junk,=x,y=").arms == []
