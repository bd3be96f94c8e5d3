"""The gated element's CSS selector, and decoding a page in the charset a browser would pick."""

from __future__ import annotations

import codecs

import pytest

from paywall.html import Selector, decode_page

# -- Selector.parse ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "selector",
    [
        "article",
        ".story-body",
        "#main",
        "div[itemprop=articleBody]",
        'div[data-kind="news story"]',
        "div.article-body#x",
        "main > article",
        "div:not(.promo)",
        "article .body",
        "section:nth-child(2)",
        "*.wide",
    ],
)
def test_selector_accepts_what_lexbor_can_match(selector: str) -> None:
    assert Selector.parse(selector).text == selector


def test_selector_surrounding_whitespace_is_dropped() -> None:
    assert Selector.parse("  main > article \n").text == "main > article"


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("div[", "unsupported CSS selector"),
        ("a[href=", "unsupported CSS selector"),
        ("div >", "unsupported CSS selector"),
        ("p:no-such-class", "unsupported CSS selector"),
        ("..story", "unsupported CSS selector"),
        ("*", "whole page"),
        ("body", "whole page"),
        ("html", "whole page"),
        ("head", "whole page"),
    ],
)
def test_selector_refused_with_a_message_naming_it(selector: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Selector.parse(selector)
    assert repr(selector) in str(info.value)


def test_unsupported_selector_message_shows_working_examples() -> None:
    with pytest.raises(ValueError, match=r"e\.g\. article") as info:
        Selector.parse("div[")
    assert "main > article" in str(info.value)


@pytest.mark.parametrize("selector", ["", "   ", "\n\t"])
def test_empty_selector_is_refused(selector: str) -> None:
    with pytest.raises(ValueError, match="empty CSS selector"):
        Selector.parse(selector)


@pytest.mark.parametrize("selector", ["BODY", "Html"])
def test_whole_page_selector_refused_in_any_case(selector: str) -> None:
    with pytest.raises(ValueError, match="whole page"):
        Selector.parse(selector)


# -- decode_page -------------------------------------------------------------------------

JAPANESE = "日本語の記事"
SJIS = JAPANESE.encode("shift_jis")
EUC = JAPANESE.encode("euc_jp")


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        # A byte order mark wins over everything.
        (codecs.BOM_UTF8 + JAPANESE.encode(), "text/html; charset=Shift_JIS", JAPANESE),
        (codecs.BOM_UTF16_LE + JAPANESE.encode("utf-16-le"), "text/html", JAPANESE),
        (codecs.BOM_UTF16_BE + JAPANESE.encode("utf-16-be"), "text/html", JAPANESE),
        # Then the Content-Type charset, over a <meta> in the page.
        (b'<meta charset="utf-8">' + SJIS, "text/html; charset=Shift_JIS", JAPANESE),
        (EUC, 'text/html; charset="EUC-JP"', JAPANESE),
        (EUC, "text/html;CHARSET=euc-jp", JAPANESE),
        # Then a <meta> near the top.
        (b'<html><head><meta charset="Shift_JIS">' + SJIS, "text/html", JAPANESE),
        (b"<head><META CHARSET=euc-jp>" + EUC, "text/html", JAPANESE),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">' + SJIS,
            "text/html",
            JAPANESE,
        ),
        # Else UTF-8.
        (JAPANESE.encode(), "text/html", JAPANESE),
        (JAPANESE.encode(), "", JAPANESE),
        (JAPANESE.encode(), "text/html; charset=no-such-charset", JAPANESE),
        (b'<meta charset="no-such-charset">' + JAPANESE.encode(), "text/html", JAPANESE),
    ],
)
def test_decode_page_order(data: bytes, content_type: str, expected: str) -> None:
    assert decode_page(data, content_type).endswith(expected)


def test_meta_far_into_the_page_is_not_read() -> None:
    data = b" " * 2000 + b'<meta charset="Shift_JIS">' + JAPANESE.encode()
    assert decode_page(data, "text/html").endswith(JAPANESE)


def test_meta_cannot_claim_utf16_for_a_page_readable_as_ascii() -> None:
    data = b'<meta charset="utf-16"><p>caf\xc3\xa9</p>'
    assert decode_page(data, "text/html") == '<meta charset="utf-16"><p>caf\u00e9</p>'


def test_header_can_say_utf16() -> None:
    data = "<p>caf\u00e9</p>".encode("utf-16-le")
    assert decode_page(data, "text/html; charset=utf-16le") == "<p>caf\u00e9</p>"


def test_bytes_invalid_in_the_charset_become_replacement_characters() -> None:
    assert decode_page(b"<p>a\xffb</p>", "text/html") == "<p>a\ufffdb</p>"


# Bytes 0x93 and 0x94 are curly quotes in windows-1252 and C1 controls in ISO-8859-1.
CURLY = b"<p>\x93caf\xe9\x94</p>"
CURLY_TEXT = "<p>\u201ccaf\u00e9\u201d</p>"


@pytest.mark.parametrize(
    ("content_type", "prefix"),
    [
        ("text/html; charset=windows-1252", b""),
        ("text/html; charset=us-ascii", b""),
        ("text/html", b'<meta charset="ascii">'),
    ],
)
def test_ascii_and_windows_1252_are_read_as_windows_1252(content_type: str, prefix: bytes) -> None:
    assert decode_page(prefix + CURLY, content_type) == prefix.decode() + CURLY_TEXT


@pytest.mark.parametrize(
    ("content_type", "prefix"),
    [
        ("text/html; charset=ISO-8859-1", b""),
        ("text/html; charset=latin1", b""),
        ("text/html", b'<meta charset="iso-8859-1">'),
    ],
)
def test_latin1_is_read_as_windows_1252(content_type: str, prefix: bytes) -> None:
    assert decode_page(prefix + CURLY, content_type) == prefix.decode() + CURLY_TEXT
