"""Recognising copies of an article's hidden text elsewhere in a page."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote

import pytest

from paywall.hidden import SHINGLE_WORDS, HiddenText, cut_after_words, normalise, word_count

HIDDEN = (
    "The minister resigned on Tuesday after the inquiry found that she had misled"
    " parliament about the contracts awarded to her brother's firm."
)
# A run of exactly SHINGLE_WORDS words of it, and one word fewer.
RUN = "minister resigned on Tuesday after the inquiry found"
SHORT_RUN = "minister resigned on Tuesday after the inquiry"


def test_run_lengths_are_what_the_tests_assume() -> None:
    assert len(normalise(RUN)) == SHINGLE_WORDS == 8
    assert len(normalise(SHORT_RUN)) == SHINGLE_WORDS - 1


# -- normalise ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("The Minister, RESIGNED!", ["the", "minister", "resigned"]),
        ("caf&eacute; &amp; bar&#39;s", ["café", "bar", "s"]),
        (r"caf\u00e9 \x41B \u{1F600}x", ["café", "ab", "x"]),
        (r"line\nbreak\ttab\"quote", ["line", "break", "tab", "quote"]),
        ("caf%C3%A9%20au%20lait", ["café", "au", "lait"]),
        ("<p>The <em>minister</em></p>", ["p", "the", "em", "minister", "em", "p"]),
        ("snake_case", ["snake", "case"]),
        ("東京で記者", ["東", "京", "で", "記", "者"]),
    ],
)
def test_normalise(text: str, words: list[str]) -> None:
    assert normalise(text) == words


# -- the teaser's word cap ---------------------------------------------------------------


def test_word_count_counts_cjk_characters_one_by_one() -> None:
    assert word_count("one  two,\nthree") == 3
    assert word_count("東京で記者") == 5
    assert word_count("Tokyo 東京") == 3
    assert word_count("   ") == 0


@pytest.mark.parametrize(
    ("text", "words", "kept", "rest"),
    [
        ("one two  three four", 2, "one two", "  three four"),
        ("one, two. three", 2, "one, two.", " three"),
        ("東京で記者", 2, "東京", "で記者"),
        ("one two", 2, "one two", ""),
        ("one two", 5, "one two", ""),
        ("one two", 0, "", "one two"),
    ],
)
def test_cut_after_words(text: str, words: int, kept: str, rest: str) -> None:
    assert cut_after_words(text, words) == (kept, rest)


# -- HiddenText: what counts as a copy ---------------------------------------------------


@pytest.mark.parametrize(
    "copy",
    [
        HIDDEN,
        RUN,
        RUN.upper(),
        "Breaking: " + RUN.replace(" ", ",  ") + " ... more",
        # HTML entities, in markup or a serialised attribute.
        html.escape(RUN).replace(" ", "&nbsp;").replace("e", "&#101;"),
        # JSON and JavaScript string escapes.
        json.dumps({"body": RUN}, ensure_ascii=True).replace(" ", "\\u0020"),
        json.dumps({"body": RUN.replace(" ", "\n")}),
        "var s = '" + RUN.replace(" ", "\\x20") + "';",
        # Percent-encoding, as in a share link.
        "https://social.example/share?text=" + quote(RUN),
        # Base64 runs: a data URI and URL-safe serialised state.
        "data:text/plain;base64," + base64.b64encode(HIDDEN.encode()).decode(),
        "state=" + base64.urlsafe_b64encode(HIDDEN.encode()).decode().rstrip("="),
        # Markup inside a string, as written by document.write.
        "document.write('<p>The <em>minister</em> resigned on <b>Tuesday</b> after the"
        " inquiry found</p>')",
    ],
    ids=[
        "whole",
        "one-run",
        "upper-case",
        "punctuation",
        "entities",
        "unicode-escapes",
        "newline-escapes",
        "hex-escapes",
        "percent",
        "base64",
        "base64-urlsafe",
        "tags-in-string",
    ],
)
def test_copy_is_found(copy: str) -> None:
    assert HiddenText([HIDDEN]).found_in(copy)


@pytest.mark.parametrize(
    "text",
    [
        SHORT_RUN,
        SHORT_RUN + ". Elsewhere the inquiry found nothing.",
        "var config = {subscription: 'monthly', paywall: true, minister: null};",
        "Subscribe to read how the minister resigned.",
        "",
        base64.b64encode(b"\x00\xff" * 60).decode(),
    ],
    ids=["seven-words", "seven-then-other", "shares-words", "headline", "empty", "binary-base64"],
)
def test_unrelated_or_too_short_text_is_not_a_copy(text: str) -> None:
    assert not HiddenText([HIDDEN]).found_in(text)


@pytest.mark.parametrize(
    "script",
    [
        "for (let i=0; i<items.length; i++) { render(i); }"
        f" const story = {{body: '{RUN}'}}; items.forEach(x => show(x));",
        f'document.write(\'<img alt="{RUN}" src="a.png">\');',
    ],
    ids=["comparison-and-arrow", "attribute-in-written-markup"],
)
def test_copy_in_script_with_angle_brackets_is_found(script: str) -> None:
    assert HiddenText([HIDDEN]).found_in(script)


def test_a_script_sharing_one_common_word_is_not_a_copy() -> None:
    hidden = HiddenText(["Readers with a subscription get the full investigation into the port."])
    assert not hidden.found_in(
        "window.dataLayer.push({event: 'view', subscription: 'none', section: 'news'});"
    )


def test_hidden_text_shorter_than_a_run_recognises_nothing() -> None:
    hidden = HiddenText(["Too short to be told from chance."])
    assert not hidden
    assert not hidden.found_in("Too short to be told from chance.")


def test_runs_do_not_cross_pieces() -> None:
    # Page furniture in one piece (a tracking pixel's markup) followed by ordinary words in
    # the next must not make a run that then matches the start of any paragraph.
    hidden = HiddenText(["The minister resigned on", "Tuesday after the inquiry found"])
    assert not hidden.found_in(RUN)
    assert HiddenText([HIDDEN]).found_in(RUN)


def test_a_copy_cut_up_by_markup_is_found_across_pieces() -> None:
    hidden = HiddenText([HIDDEN])
    pieces = ["Related: ", *RUN.split(), " and more."]  # one <span> per word
    # Every word inside the copy goes; a single word at either end may stay (a word is no
    # article, and the paragraph after a copy may start with the word the copy went on with).
    assert hidden.pieces_holding(pieces) == set(range(2, 8))
    three_then_words = ["Related:", "minister resigned on", *RUN.split()[3:]]
    assert hidden.pieces_holding(three_then_words) == set(range(1, 6))
    assert hidden.pieces_holding(["minister resigned", "on Tuesday"]) == set()


def test_runs_also_in_the_visible_teaser_do_not_count() -> None:
    teaser = "The minister resigned on Tuesday after the inquiry found that she had misled"
    hidden = HiddenText([HIDDEN], visible=[teaser])
    assert hidden  # the end of the hidden text is still hidden
    assert not hidden.found_in(teaser)
    assert not hidden.found_in(RUN)
    assert hidden.found_in("misled parliament about the contracts awarded to her brother's")


def test_hidden_text_all_visible_recognises_nothing() -> None:
    hidden = HiddenText([HIDDEN], visible=["Intro. " + HIDDEN])
    assert not hidden
    assert not hidden.found_in(HIDDEN)


def test_cjk_copy_is_found() -> None:
    hidden = HiddenText(["首相は火曜日に辞任を表明し、調査報告書の公表を受けて記者会見を開いた。"])
    assert hidden.found_in("var d = '首相は火曜日に辞任を表明し、調査報告書の公表を受けて';")


def test_short_cjk_copy_of_a_full_run_is_found() -> None:
    hidden = HiddenText(["首相は火曜日に辞任を表明し、調査報告書の公表を受けて記者会見を開いた。"])
    copy = "首相は火曜日に辞任を表明し"  # 13 characters, 13 words
    assert len(normalise(copy)) >= SHINGLE_WORDS
    assert hidden.found_in(copy)


def test_base64_decoding_is_bounded() -> None:
    import base64
    import zlib

    from paywall.hidden import MAX_INFLATED, _decoded_runs

    bomb = base64.b64encode(zlib.compress(b"a b " * 1_000_000, 9)).decode()
    decoded = list(_decoded_runs(bomb))
    assert decoded and sum(len(text) for text in decoded) <= MAX_INFLATED
    many = " ".join(base64.b64encode(f"run {n} ".encode() * 20).decode() for n in range(100))
    assert len(list(_decoded_runs(many))) <= 16
