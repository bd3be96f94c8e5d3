"""The byte-level tag scanner and the CSS selectors allowed for `content.article`."""

from __future__ import annotations

import time

import pytest

from paywall.html import Selector, Tag, edit_start_tag, tags


def first(data: bytes) -> Tag:
    return next(tags(data))


def names(data: bytes) -> list[str]:
    return [("/" if tag.closing else "") + tag.name.decode() for tag in tags(data)]


def matching(selector: str, page: bytes) -> list[bytes]:
    """The start tags (as written) that `selector` selects in `page`."""
    sel = Selector.parse(selector)
    return [page[tag.start : tag.end] for tag in tags(page) if sel.matches(tag)]


# -- Selector.parse ----------------------------------------------------------------------


def test_parse_tag_is_lower_cased() -> None:
    sel = Selector.parse("  ARTICLE ")
    assert sel.tag == b"article"
    assert sel.conditions == ()
    assert sel.text == "  ARTICLE "


PAGE = (
    b'<div id="x" class="article-body wide"><p>a</p></div>'
    b'<section class="article-bodyish"></section>'
    b'<article itemprop="articleBody" data-kind="news story"></article>'
    b'<div class="Article-Body" id="y"></div>'
)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("div", [b'<div id="x" class="article-body wide">', b'<div class="Article-Body" id="y">']),
        (".article-body", [b'<div id="x" class="article-body wide">']),
        (".wide", [b'<div id="x" class="article-body wide">']),
        ("#y", [b'<div class="Article-Body" id="y">']),
        ("[itemprop]", [b'<article itemprop="articleBody" data-kind="news story">']),
        ("[itemprop=articleBody]", [b'<article itemprop="articleBody" data-kind="news story">']),
        ('[data-kind="news story"]', [b'<article itemprop="articleBody" data-kind="news story">']),
        ("[data-kind='news story']", [b'<article itemprop="articleBody" data-kind="news story">']),
        ("[itemprop=articlebody]", []),  # values are case-sensitive
        ("div.article-body#x", [b'<div id="x" class="article-body wide">']),
        ("div.article-body#y", []),
        ("section.article-body", []),  # a class is a whole word, not a prefix
        ("div.article-body.wide[id=x]", [b'<div id="x" class="article-body wide">']),
        ("*.wide", [b'<div id="x" class="article-body wide">']),
    ],
)
def test_selector_matches(selector: str, expected: list[bytes]) -> None:
    assert matching(selector, PAGE) == expected


def test_compound_selector_parts() -> None:
    sel = Selector.parse('div.article-body#x[data-a][data-b="v"]')
    assert sel.tag == b"div"
    assert sel.conditions == (
        ("\x00class", "article-body"),
        ("id", "x"),
        ("data-a", None),
        ("data-b", "v"),
    )


def test_selector_never_matches_end_tags() -> None:
    assert matching("div", b"</div>") == []


def test_selector_attribute_entities_and_uppercase_names() -> None:
    page = b'<DIV CLASS="story" Data-Title="A &amp; B">'
    assert matching('div.story[data-title="A & B"]', page) == [page]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("div p", "unsupported"),
        ("article > p", "unsupported"),
        ("div, p", "unsupported"),
        ("div:first-child", "unsupported"),
        (".a .b", "unsupported"),
        ("[attr", "unsupported"),
        ("*", "matches every element"),
        ("img", "empty element"),
        ("img.hero", "empty element"),
        ("BR", "empty element"),
    ],
)
def test_selector_errors(selector: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Selector.parse(selector)
    if selector.strip():
        assert repr(selector) in str(info.value)  # says which selector is wrong


def test_unsupported_selector_error_points_at_the_problem() -> None:
    with pytest.raises(ValueError) as info:
        Selector.parse("div p")
    assert "' p'" in str(info.value)
    assert "e.g." in str(info.value)


# -- tags() ------------------------------------------------------------------------------


def test_tags_offsets_and_attributes() -> None:
    page = b'<p class="lead" data-x=1 hidden>Hi</p>'
    start, end = list(tags(page))
    assert (start.name, start.closing, start.start, start.end) == (b"p", False, 0, 32)
    assert page[start.start : start.end] == b'<p class="lead" data-x=1 hidden>'
    assert start.attributes() == {"class": "lead", "data-x": "1", "hidden": ""}
    assert (end.name, end.closing, page[end.start : end.end]) == (b"p", True, b"</p>")


def test_comments_are_skipped() -> None:
    page = b"<div><!-- <p>old</p> </div> --><p>new</p></div>"
    assert names(page) == ["div", "p", "/p", "/div"]


@pytest.mark.parametrize("comment", [b"<!-->", b"<!--->", b"<!-- x --!>"])
def test_comment_endings_browsers_accept(comment: bytes) -> None:
    # A browser ends these comments here, so the tags after them are real.
    assert names(b"<div>" + comment + b"<p>x</p></div>") == ["div", "p", "/p", "/div"]


def test_unclosed_comment_hides_the_rest() -> None:
    assert names(b"<div><!-- <p>x</p>") == ["div"]


def test_doctype_and_processing_instructions_are_skipped() -> None:
    assert names(b'<!DOCTYPE html><?xml version="1.0"?><html></html>') == ["html", "/html"]


def test_script_text_is_not_markup() -> None:
    page = b'<div><script>var s = "<p>x</p></div>";</script><p>y</p></div>'
    found = list(tags(page))
    assert names(page) == ["div", "script", "/script", "p", "/p", "/div"]
    script = found[1]
    assert page[script.end : script.content_end] == b'var s = "<p>x</p></div>";'


def test_raw_text_end_tag_is_case_insensitive_and_needs_a_delimiter() -> None:
    page = b"<style>a</styles> b</STYLE ><p>"
    assert names(page) == ["style", "/style", "p"]
    assert page[first(page).end : first(page).content_end] == b"a</styles> b"


def test_unclosed_script_hides_the_rest() -> None:
    page = b"<script>if (a<b) {<p>x</p>"
    (only,) = tags(page)
    assert only.content_end == len(page)


def test_greater_than_inside_quoted_attribute() -> None:
    page = b"<a title=\"1 > 0\" data-x='<p>'>link</a><p>"
    found = list(tags(page))
    assert names(page) == ["a", "/a", "p"]
    assert found[0].attributes() == {"title": "1 > 0", "data-x": "<p>"}


def test_quotes_only_delimit_values_after_equals() -> None:
    # "=" with no name before it starts a name, so the quote after it is an ordinary character.
    page = b"<p>a <img alt=\"\" =' x> b</p><p>it's</p>"
    assert names(page) == ["p", "img", "/p", "p", "/p"]
    assert names(b'<a b = "c>d" e>x</a>') == ["a", "/a"]


def test_apostrophe_in_unquoted_value_is_just_a_character() -> None:
    # Browsers read alt=Don't as the value "Don't"; the tag still ends at its ">".
    page = b"<p>a <img alt=Don't src=x.png> b</p><p>it's</p>"
    assert names(page) == ["p", "img", "/p", "p", "/p"]
    assert list(tags(page))[1].attributes()["alt"] == "Don't"


def test_uppercase_tags_are_lower_cased() -> None:
    assert names(b"<DIV CLASS=x><P>a</P></Div>") == ["div", "p", "/p", "/div"]


def test_self_closing() -> None:
    page = b'<br/><img src="a.png" /><div class="x"/><p>'
    found = list(tags(page))
    assert [t.self_closing for t in found] == [True, True, True, False]
    assert found[1].attributes() == {"src": "a.png"}


def test_stray_less_than_signs_are_text() -> None:
    assert names(b"<p>1 < 2 and 3 <= 4, a<-b, <3 </ p></p>") == ["p", "/p"]


def test_scan_from_position_and_stop() -> None:
    page = b"<a><b><i><u>"
    assert [t.name for t in tags(page, 3, 9)] == [b"b", b"i"]


@pytest.mark.parametrize(
    "page",
    [
        b'<a title="unclosed' + b"<b " * 20_000,
        b'<p title="unclosed>' + b"<p>x</p>" * 20_000,
        b"<p>" + b"a<b" * 20_000,
        b"<a =" * 20_000,
        b'<a x="1>" ' + b'a="b" ' * 40,
        b"<p/" * 20_000,
        b"<!--" + b"<p>" * 20_000,
        b"<script>" + b"</scrip" * 20_000,
    ],
)
def test_tags_left_open_do_not_hang(page: bytes) -> None:
    began = time.perf_counter()
    for _ in tags(page):
        pass
    assert time.perf_counter() - began < 1.0


@pytest.mark.parametrize("tail", [b'<a href="x', b"<a href='x", b"<a b c", b"</div", b'<a b="x>"'])
def test_a_tag_never_closed_runs_to_the_end_like_in_a_browser(tail: bytes) -> None:
    assert names(b"<div><p>a</p>" + tail + b" more <p text") == ["div", "p", "/p"]


def test_unclosed_quote_with_no_closing_quote_is_forgiven() -> None:
    # No later quote at all: the value ends at whitespace and the tag at the next ">".
    page = b'<p><img alt="oops src=a.png>text</p><p>next</p>'
    assert names(page) == ["p", "img", "/p", "p", "/p"]


def test_unclosed_quote_ends_at_the_next_quote_like_a_browser() -> None:
    page = b'<a title="x>y</a><p class="z">'
    (only,) = tags(page)
    assert only.name == b"a"
    assert only.attributes()["title"] == "x>y</a><p class="


# -- edit_start_tag --------------------------------------------------------------------


def start_tag(markup: bytes) -> bytes:
    tag = next(tags(markup))
    return edit_start_tag(markup, tag, add_class="paywall-gated", drop_data=True)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b'<div class="a b" id=x>', b'<div class="a b paywall-gated" id=x>'),
        (b"<div class='a' title=\"q\">", b"<div class='a paywall-gated' title=\"q\">"),
        (b"<div class=a>", b'<div class="a paywall-gated">'),
        (b"<article>", b'<article class="paywall-gated">'),
        (b'<DIV ID="main">', b'<DIV ID="main" class="paywall-gated">'),
        (
            b'<div class="body" data-full="the whole story" data-x=1 lang=en>',
            b'<div class="body paywall-gated" lang=en>',
        ),
        (b'<section data-text="all of it"/>', b'<section class="paywall-gated"/>'),
    ],
)
def test_edit_start_tag(before: bytes, after: bytes) -> None:
    assert start_tag(before) == after


def test_edit_start_tag_keeps_data_attributes_when_asked() -> None:
    markup = b'<div data-id="7">'
    tag = next(tags(markup))
    kept = edit_start_tag(markup, tag, add_class="g", drop_data=False)
    assert kept == b'<div data-id="7" class="g">'
