"""Rewriting article pages: the prompt at the start of the gated element, and the wall."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paywall.html import Selector, tags
from paywall.rewrite import (
    cut_page,
    find_gate,
    insert_prompt,
    page_encoding,
    personalise,
    standalone_page,
    strip_json_ld,
    wall,
)

FRAGMENT = b'<aside class="paywall-prompt">Subscribe!</aside>'
ARTICLE = Selector.parse("div.article-body")


def page_with(body: str, head: str = "", after: str = "<footer>Footer</footer>") -> bytes:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>T</title>{head}</head>'
        f'<body><h1>Headline</h1><div class="article-body">{body}</div>{after}</body></html>'
    ).encode()


def walled(page: bytes, teaser: int, selector: Selector = ARTICLE) -> bytes:
    gate = find_gate(page, selector, teaser)
    assert gate is not None
    return wall(page, gate, FRAGMENT, "utf-8")


def json_ld(page: bytes, encoding: str = "utf-8") -> list[str]:
    """The text of each JSON-LD block in the page."""
    return [
        page[tag.end : tag.content_end].decode(encoding)
        for tag in tags(page)
        if tag.name == b"script" and not tag.closing and b"ld+json" in tag.attrs
    ]


PARAS = "".join(f"<p>Para {n} secret-{n}.</p>" for n in range(1, 6))


# -- find_gate ---------------------------------------------------------------------------


def test_no_matching_element() -> None:
    assert find_gate(page_with(PARAS), Selector.parse("article"), 2) is None


def test_gate_offsets() -> None:
    page = page_with(PARAS)
    gate = find_gate(page, ARTICLE, 2)
    assert gate is not None
    assert page[: gate.open_end].endswith(b'<div class="article-body">')
    assert page[gate.close_start :].startswith(b"</div><footer>")
    assert [page[s:e] for s, e in gate.paragraphs] == [
        b"<p>Para 1 secret-1.</p>",
        b"<p>Para 2 secret-2.</p>",
    ]


def test_first_matching_element_is_gated() -> None:
    page = b'<div class="article-body"><p>one</p></div><div class="article-body"><p>two</p></div>'
    gate = find_gate(page, ARTICLE, 5)
    assert gate is not None
    assert [page[s:e] for s, e in gate.paragraphs] == [b"<p>one</p>"]


def test_void_element_matched_by_class_holds_nothing() -> None:
    page = b'<img class="story" src="a.png"><p>caption</p>'
    gate = find_gate(page, Selector.parse(".story"), 2)
    assert gate is not None
    assert gate.open_end == gate.close_start == page.index(b"<p>")
    assert gate.paragraphs == ()


# -- insert_prompt -----------------------------------------------------------------------


def test_insert_prompt_right_after_start_tag_and_nothing_else_changes() -> None:
    page = page_with(PARAS, head='<script type="application/ld+json">{"articleBody": "x"}</script>')
    gate = find_gate(page, ARTICLE, 2)
    assert gate is not None
    out = insert_prompt(page, gate, FRAGMENT)
    cut = page.index(b'<div class="article-body">') + len(b'<div class="article-body">')
    assert out == page[:cut] + FRAGMENT + page[cut:]
    assert out.count(b"secret-5") == 1  # the full article is still there


def test_insert_prompt_when_start_tag_has_gt_in_attribute() -> None:
    page = b'<div title="a > b" class="article-body"><p>x</p></div>'
    gate = find_gate(page, ARTICLE, 1)
    assert gate is not None
    assert insert_prompt(page, gate, FRAGMENT) == (
        b'<div title="a > b" class="article-body">' + FRAGMENT + b"<p>x</p></div>"
    )


# -- wall --------------------------------------------------------------------------------


def assert_walled(page: bytes, out: bytes, kept: list[str], hidden: list[str]) -> None:
    for text in kept:
        assert out.count(text.encode()) == 1, text
    for text in hidden:
        assert text.encode() not in out, text
    open_end = page.index(b'<div class="article-body">') + len(b'<div class="article-body">')
    assert out[:open_end] == page[:open_end]
    assert out.endswith(b"</div><footer>Footer</footer></body></html>")
    assert FRAGMENT in out


@pytest.mark.parametrize("teaser", [0, 1, 2, 5, 9])
def test_wall_keeps_exactly_the_first_paragraphs(teaser: int) -> None:
    page = page_with(PARAS)
    out = walled(page, teaser)
    kept = [f"secret-{n}." for n in range(1, min(teaser, 5) + 1)]
    hidden = [f"secret-{n}." for n in range(teaser + 1, 6)]
    assert_walled(page, out, kept, hidden)
    assert out.count(b"<p>") == min(teaser, 5)
    # The teaser comes before the prompt.
    assert all(out.index(k.encode()) < out.index(FRAGMENT) for k in kept)


def test_wall_teaser_zero_keeps_only_the_prompt() -> None:
    page = page_with(PARAS)
    assert walled(page, 0) == page.replace(PARAS.encode(), FRAGMENT)


def test_wall_drops_everything_that_is_not_a_teaser_paragraph() -> None:
    body = '<figure><img src="a.png"><figcaption>cap-secret</figcaption></figure>' + PARAS
    body += "<ul><li>list-secret</li></ul>text-secret"
    out = walled(page_with(body), 2)
    assert_walled(
        page_with(body),
        out,
        ["secret-1.", "secret-2."],
        ["cap-secret", "list-secret", "text-secret", "secret-3."],
    )


def test_wall_implicit_paragraph_end() -> None:
    page = page_with("<p>first-para<p>second-para<div>block-secret</div><p>third-secret")
    out = walled(page, 2)
    assert_walled(page, out, ["first-para", "second-para"], ["block-secret", "third-secret"])


@pytest.mark.parametrize(
    "closer", ["li", "dd", "dt", "center", "summary", "table", "hr", "h2", "pre"]
)
def test_wall_start_tags_that_end_a_paragraph(closer: str) -> None:
    page = page_with(f"<p>teaser<{closer}>hidden-secret</{closer}></p><p>later-secret</p>")
    out = walled(page, 1)
    assert_walled(page, out, ["teaser"], ["hidden-secret", "later-secret"])


def test_wall_list_items_with_implicit_ends() -> None:
    page = page_with("<ul><li><p>teaser<li>item-secret</ul><p>para-secret</p>")
    out = walled(page, 1)
    assert_walled(page, out, ["teaser"], ["item-secret", "para-secret"])


def test_wall_paragraph_with_inline_markup_and_end_of_parent() -> None:
    page = page_with(
        "<blockquote><p>quote <em>one</em> <a href='/x'>two</a></blockquote><p>after-secret</p>"
    )
    out = walled(page, 1)
    assert_walled(page, out, ["quote <em>one</em> <a href='/x'>two</a>"], ["after-secret"])


def test_wall_paragraphs_inside_blockquote_count() -> None:
    page = page_with("<blockquote><p>q-one</p><p>q-two</p></blockquote><p>p-three-secret</p>")
    out = walled(page, 2)
    assert_walled(page, out, ["<p>q-one</p>", "<p>q-two</p>"], ["p-three-secret"])


def test_wall_nested_same_name_elements() -> None:
    body = (
        '<div class="inner"><p>one</p><div><p>two</p></div></div>'
        "<p>three-secret</p><div>div-secret</div><p>four-secret</p>"
    )
    page = page_with(body)
    out = walled(page, 2)
    assert_walled(page, out, ["<p>one</p>", "<p>two</p>"], ["three-secret", "four-secret"])
    assert b"div-secret" not in out


def test_wall_self_closing_div_inside_still_opens_a_div() -> None:
    # Browsers ignore "/>" on a div: it opens one, so the first </div> closes it, not
    # the article.
    page = page_with("<p>teaser</p><div/>x</div><p>after-secret</p>")
    out = walled(page, 1)
    assert_walled(page, out, ["teaser"], ["after-secret"])


def test_wall_ignores_tags_in_comments_scripts_and_attributes() -> None:
    body = (
        "<!-- </div> <p>comment</p> -->"
        "<script>document.write('</div><p>')</script>"
        '<p data-x="</div>">teaser</p>'
        "<p>hidden-secret</p>"
    )
    page = page_with(body)
    out = walled(page, 1)
    assert_walled(page, out, ['<p data-x="</div>">teaser</p>'], ["hidden-secret", "comment"])


def test_wall_apostrophe_in_unquoted_attribute_does_not_leak() -> None:
    page = page_with("<p>teaser <img alt=Don't src=a.png></p><p>hidden-secret</p><p>it's</p>")
    out = walled(page, 1)
    assert_walled(page, out, ["teaser"], ["hidden-secret", "it's"])


def test_wall_gated_element_never_closed() -> None:
    page = b'<html><body><div class="article-body"><p>one</p><p>two-secret</p></body></html>'
    assert walled(page, 1) == (
        b'<html><body><div class="article-body"><p>one</p>' + FRAGMENT + b"</body></html>"
    )
    page = b'<div class="article-body"><p>one</p><p>two-secret'
    assert walled(page, 1) == b'<div class="article-body"><p>one</p>' + FRAGMENT
    assert walled(page, 2) == b'<div class="article-body"><p>one</p>\n<p>two-secret' + FRAGMENT


def test_wall_uppercase_markup() -> None:
    page = b'<BODY><DIV CLASS="article-body"><P>one</P><P>two-secret</P></DIV><P>out</P></BODY>'
    assert walled(page, 1) == (
        b'<BODY><DIV CLASS="article-body"><P>one</P>' + FRAGMENT + b"</DIV><P>out</P></BODY>"
    )


def test_wall_leaves_the_rest_of_the_page_byte_for_byte() -> None:
    head = "<style>p { color: red }</style><!-- note -->"
    after = "<footer>\u00a9 caf\u00e9 <p>unrelated</p></footer>"
    page = page_with(PARAS, head=head, after=after)
    out = walled(page, 1)
    cut = page.index(b'<div class="article-body">') + len(b'<div class="article-body">')
    end = page.index(b"</div><footer>")
    assert out == page[:cut] + b"<p>Para 1 secret-1.</p>" + FRAGMENT + page[end:]


# -- JSON-LD -----------------------------------------------------------------------------


def ld(document: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(document)}</script>'


def test_wall_removes_article_body_from_json_ld_and_keeps_other_keys() -> None:
    doc = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "H",
        "articleBody": "Para 3 secret-3.",
        "author": {"@type": "Person", "name": "A"},
        "isAccessibleForFree": False,
    }
    page = page_with(PARAS, head=ld(doc))
    out = walled(page, 1)
    assert b"secret-3" not in out
    (block,) = json_ld(out)
    assert json.loads(block) == {k: v for k, v in doc.items() if k != "articleBody"}


def test_json_ld_nested_and_graph_lists() -> None:
    doc = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "P"},
            {
                "@type": "NewsArticle",
                "articleBody": "graph-secret",
                "hasPart": [
                    {"@type": "WebPageElement", "articleBody": "part-secret", "cssSelector": ".x"},
                ],
            },
        ],
        "mainEntity": {"articleBody": "main-secret", "headline": "M"},
    }
    out = strip_json_ld(ld(doc).encode(), "utf-8")
    assert b"secret" not in out
    assert json.loads(json_ld(out)[0]) == {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebPage", "name": "P"},
            {"@type": "NewsArticle", "hasPart": [{"@type": "WebPageElement", "cssSelector": ".x"}]},
        ],
        "mainEntity": {"headline": "M"},
    }


def test_json_ld_after_the_article_is_cleaned_too() -> None:
    page = page_with(PARAS, after="<footer>Footer</footer>" + ld({"articleBody": "secret-4."}))
    out = walled(page, 1)
    assert b"secret-4" not in out
    assert json_ld(out) == ["{}"]


def test_json_ld_without_article_body_is_untouched() -> None:
    block = '<script type="application/ld+json">\n  {"@type":  "Organization"}\n</script>'
    page = page_with(PARAS, head=block)
    out = walled(page, 1)
    assert block.encode() in out


def test_other_scripts_are_untouched() -> None:
    block = '<script type="application/json">{"articleBody": "kept"}</script>'
    assert strip_json_ld(block.encode(), "utf-8") == block.encode()


def test_unparseable_json_ld_is_emptied() -> None:
    page = (
        b'<script type="application/ld+json">{"articleBody": "secret-3", oops}</script>'
        b'<SCRIPT TYPE="application/LD+JSON"><!-- {"articleBody": "secret-4"} --></SCRIPT><p>x</p>'
    )
    assert strip_json_ld(page, "utf-8") == (
        b'<script type="application/ld+json"></script>'
        b'<SCRIPT TYPE="application/LD+JSON"></SCRIPT><p>x</p>'
    )


def test_reserialised_json_ld_cannot_end_or_comment_out_its_script() -> None:
    doc = {"headline": "a </script><p>x</p> <!--<script> b", "articleBody": "secret"}
    raw = json.dumps(doc).replace("<", "\\u003c")  # as many publishers escape it
    page = f'<script type="application/ld+json">{raw}</script><p>after</p>'.encode()
    out = strip_json_ld(page, "utf-8")
    (block,) = json_ld(out)
    assert "</" not in block
    assert "<!--" not in block
    assert json.loads(block) == {"headline": doc["headline"]}
    assert out.endswith(b"</script><p>after</p>")
    assert [t.name for t in tags(out)] == [b"script", b"script", b"p", b"p"]


def test_json_ld_characters_outside_the_page_charset_survive() -> None:
    doc = {"headline": "Caf\u00e9 \u65e5\u672c \U0001f600", "articleBody": "secret"}
    page = ('<script type="application/ld+json">' + json.dumps(doc) + "</script>").encode(
        "shift_jis"
    )
    out = strip_json_ld(page, "shift_jis")
    (block,) = json_ld(out, "shift_jis")
    assert json.loads(block) == {"headline": doc["headline"]}


# -- non-UTF-8 pages ---------------------------------------------------------------------


def test_shift_jis_page_is_walled_and_still_decodes() -> None:
    paragraphs = [f"<p>第{n}段落、東京で記者が取材した。秘密{n}。</p>" for n in range(1, 5)]
    doc = {"@type": "NewsArticle", "headline": "日本語の見出し", "articleBody": "秘密3。秘密4。"}
    text = (
        '<html><head><meta charset="Shift_JIS"><title>ニュース</title>'
        f'<script type="application/ld+json">{json.dumps(doc, ensure_ascii=False)}</script>'
        '</head><body><div class="article-body">'
        + "".join(paragraphs)
        + "</div><footer>表示</footer></body></html>"
    )
    page = text.encode("shift_jis")
    encoding = page_encoding("text/html", page)
    assert encoding == "shift_jis"
    gate = find_gate(page, ARTICLE, 2)
    assert gate is not None
    fragment = "<aside>購読してください</aside>".encode(encoding)
    out = wall(page, gate, fragment, encoding).decode("shift_jis")  # strict: no mojibake
    assert paragraphs[0] in out and paragraphs[1] in out
    assert "秘密3" not in out and "秘密4" not in out
    assert "<aside>購読してください</aside></div><footer>表示</footer>" in out
    (block,) = json_ld(out.encode("shift_jis"), "shift_jis")
    assert json.loads(block) == {"@type": "NewsArticle", "headline": "日本語の見出し"}


def test_latin1_page_is_walled_byte_for_byte() -> None:
    page = page_with("<p>Caf\u00e9 one</p><p>na\u00efve-secret</p>").replace(b"utf-8", b"latin-1")
    page = page.decode().encode("latin-1")
    gate = find_gate(page, ARTICLE, 1)
    assert gate is not None
    out = wall(page, gate, FRAGMENT, "iso8859-1")
    assert "Caf\u00e9 one".encode("latin-1") in out
    assert b"secret" not in out


# -- page_encoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html; charset=Shift_JIS", b"", "shift_jis"),
        ('text/html; charset="EUC-JP"', b"", "euc_jp"),
        ("text/html;charset=windows-1252", b'<meta charset="utf-8">', "cp1252"),
        ("text/html", b'<html><head><meta charset="Shift_JIS">', "shift_jis"),
        ("text/html", b"<head><META CHARSET=euc-jp>", "euc_jp"),
        (
            "text/html",
            b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">',
            "iso8859-1",
        ),
        ("text/html", b"<html><p>no declaration</p>", "utf-8"),
        ("", b"", "utf-8"),
        ("text/html; charset=no-such-charset", b"", "utf-8"),
        ("text/html", b" " * 5000 + b'<meta charset="shift_jis">', "utf-8"),  # too far in
        ("text/html; charset=utf-16", b"", None),
        ("text/html; charset=UTF-16LE", b"", None),
        ("text/html", b'<meta charset="utf-32">', None),
        ("text/html; charset=iso-2022-jp", b"", None),
        ("text/html; charset=utf-7", b"", None),
        ("text/html; charset=cp037", b"", None),  # EBCDIC
    ],
)
def test_page_encoding(content_type: str, body: bytes, expected: str | None) -> None:
    assert page_encoding(content_type, body) == expected


def test_iso_2022_jp_bytes_can_look_like_tags() -> None:
    # Why such pages are never spliced: in ISO-2022-JP this kanji is the bytes "<p".
    assert "\u816b".encode("iso2022_jp") == b"\x1b$B<p\x1b(B"
    assert page_encoding("", '<meta charset="ISO-2022-JP">'.encode("iso2022_jp")) is None


# -- standalone_page ---------------------------------------------------------------------


def test_standalone_page_escapes_title_and_holds_fragment() -> None:
    page = standalone_page("<aside>Subscribe</aside>", "Tom & Jerry <News>").decode()
    assert "<title>Tom &amp; Jerry &lt;News&gt;</title>" in page
    assert "<body>\n<aside>Subscribe</aside>\n</body>" in page
    assert 'charset="utf-8"' in page


# -- property test -----------------------------------------------------------------------

# No "<" in the words: a "<!--" there would (rightly) hide the rest of the page.
_words = st.text(alphabet="abcdefghij klmnop,.'\"=>&;!-/", max_size=20)
_inline = st.sampled_from(
    [
        "<b>{}</b>",
        "<em>{}</em>",
        "<a href='/x?a=1&b=2'>{}</a>",
        '<span class="s">{}</span>',
        "{}<br>",
        "{}<br/>",
        '<img alt="{}" src=x.png>',
        "<!-- {} -->",
        "<code>{}</code>",
        "<i>{}",
        "{}</i>",
        "<img alt=Don't src=y>{}",
    ]
)
_between = st.sampled_from(
    [
        "",
        "\n",
        "<!-- <p>c</p> </div> -->",
        "<script>var s='<p>'+\"</div>\";</script>",
        "<style>p>a{}</style>",
        "<figure><img src=z.png></figure>",
        "<div></div>",
        "<hr>",
        "<br/>",
        "<div/>x</div>",
        "<noscript><img src=n.png></noscript>",
        "<h2>h</h2>",
        "<!-->",
        "<p title='it>s'>",
    ]
)
# Balanced containers a paragraph may sit in.
_container = st.sampled_from(
    [
        "{}",
        "{}",
        "<blockquote>{}</blockquote>",
        '<div class="inner">{}</div>',
        "<section><h2>h</h2>{}</section>",
        "<ul><li>{}</li></ul>",
        "<ul><li>a<li>{}</ul>",
        "<table><tr><td>{}</td></tr></table>",
        "<div><div>{}</div></div>",
        "<aside>{}</aside>",
    ]
)


@st.composite
def pages(draw: st.DrawFn) -> tuple[bytes, int, list[str], str]:
    count = draw(st.integers(1, 7))
    markers = [f"MARK{n}X" for n in range(count)]
    parts: list[str] = []
    for marker in markers:
        parts.append(draw(_between))
        words = draw(_words)
        at = draw(st.integers(0, len(words)))
        wrapped = draw(_inline).format(words[:at] + marker + words[at:])
        closing = draw(st.sampled_from(["</p>", "", "</P>"]))
        tag = draw(st.sampled_from(["<p>", "<P>", '<p class="x">', "<p title='a>b'>"]))
        paragraph = f"{tag}{wrapped}{closing}"
        parts.append(draw(_container).format(paragraph))
    parts.append(draw(_between))
    body = "".join(parts)
    head = draw(st.sampled_from(["", ld({"headline": "h", "articleBody": " ".join(markers)})]))
    head += draw(st.sampled_from(["", "<!-- head -->", "<script>if (a<b) {}</script>"]))
    teaser = draw(st.integers(0, count + 1))
    return page_with(body, head=head), teaser, markers, head


def _head_without_json_ld(data: bytes) -> bytes:
    return re.sub(rb'(<script type="application/ld\+json">).*?(</script>)', rb"\1\2", data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages())
def test_wall_never_leaks_hidden_paragraphs(case: tuple[bytes, int, list[str], str]) -> None:
    page, teaser, markers, _head = case
    gate = find_gate(page, ARTICLE, teaser)
    assert gate is not None
    out = wall(page, gate, FRAGMENT, "utf-8")
    assert out.count(FRAGMENT) == 1
    # Every paragraph the teaser doesn't keep is gone from the whole response.
    kept = b"".join(page[s:e] for s, e in gate.paragraphs)
    assert len(gate.paragraphs) <= teaser
    starts = [t for t in tags(page, gate.open_end, gate.close_start) if t.name == b"p"]
    assert len(gate.paragraphs) == min(teaser, len([t for t in starts if not t.closing]))
    for marker in markers:
        if marker.encode() not in kept:
            assert marker.encode() not in out, marker
    # Bytes before the gated element are unchanged apart from the JSON-LD edit ...
    start_tag = b'<div class="article-body">'
    assert page[: gate.open_end].endswith(start_tag)
    cut = out.index(start_tag) + len(start_tag)
    assert _head_without_json_ld(out[:cut]) == _head_without_json_ld(page[: gate.open_end])
    # ... the kept teaser and the prompt follow right after ...
    assert out[cut:].startswith(b"\n".join(page[s:e] for s, e in gate.paragraphs) + FRAGMENT)
    # ... and the page after the article is as it was.
    assert out.endswith(b"</div><footer>Footer</footer></body></html>")


# -- personalise: the whole page as one reader gets it ---------------------------------

LEAKY_HEAD = (
    '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Headline",'
    ' "articleBody": "Para 1 secret-1. Para 2 secret-2. Para 3 secret-3."}</script>'
    '<script>window.__STORY__ = {"body": "Para three and the words that follow it in the'
    ' hidden part of the story \\u2014 secret\\u002d4"}</script>'
    "<script>var analytics = {page: 'article'};</script>"
)
HIDDEN_PARAS = (
    "<p>Para one opens the story in plain view.</p>"
    "<p>Para two still belongs to the teaser.</p>"
    "<p>Para three and the words that follow it in the hidden part of the story.</p>"
    "<p>Para four goes on with more words nobody should read for free.</p>"
)
LEAKY_AFTER = (
    "<noscript><p>Para four goes on with more words nobody should read for free.</p></noscript>"
    '<noscript><img src="/pixel.gif" alt=""></noscript>'
    "<template><p>Para three and the words that follow it in the hidden part</p></template>"
    "<footer>Footer</footer>"
)


def personalised(page: bytes, *, walled: bool, declare: bool = True, teaser: int = 2) -> str:
    gate = find_gate(page, ARTICLE, teaser)
    assert gate is not None
    out = personalise(
        page, gate, FRAGMENT, walled=walled, encoding="utf-8", declare_paywall=declare
    )
    return out.decode()


def test_walled_page_has_no_copy_of_the_hidden_text_anywhere() -> None:
    page = page_with(HIDDEN_PARAS, head=LEAKY_HEAD, after=LEAKY_AFTER).replace(
        b'class="article-body"', b'class="article-body" data-body="Para four goes on"'
    )
    out = personalised(page, walled=True)
    for hidden in ("Para three", "Para four", "secret-3", "secret\\u002d4", "data-body"):
        assert hidden not in out
    assert "Para one opens" in out and "Para two still" in out
    assert "var analytics" in out and "/pixel.gif" in out  # unrelated scripts stay
    assert "<footer>Footer</footer>" in out


def test_every_metered_page_declares_the_paywall() -> None:
    page = page_with(HIDDEN_PARAS, head=LEAKY_HEAD)
    out = personalised(page, walled=False)
    assert '<div class="article-body paywall-gated">' in out
    [block] = [json.loads(b) for b in json_ld(out.encode()) if "NewsArticle" in b]
    assert block["isAccessibleForFree"] is False
    assert block["hasPart"]["cssSelector"] == ".paywall-gated"
    assert "Para four goes on" in out  # a reader with free articles left gets it all


def test_a_page_without_json_ld_gets_a_block_in_its_head() -> None:
    out = personalised(page_with(HIDDEN_PARAS), walled=False)
    head = out[: out.index("</head>")]
    [block] = [json.loads(b) for b in json_ld(head.encode())]
    assert block["@type"] == "NewsArticle" and block["isAccessibleForFree"] is False


def test_declaring_can_be_turned_off() -> None:
    page = page_with(HIDDEN_PARAS, head=LEAKY_HEAD)
    gate = find_gate(page, ARTICLE, 2)
    assert gate is not None
    out = personalise(page, gate, FRAGMENT, walled=False, encoding="utf-8", declare_paywall=False)
    assert out == insert_prompt(page, gate, FRAGMENT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages())
def test_personalise_never_leaks_and_keeps_the_tail(
    case: tuple[bytes, int, list[str], str],
) -> None:
    page, teaser, markers, _head = case
    gate = find_gate(page, ARTICLE, teaser)
    assert gate is not None
    out = personalise(page, gate, FRAGMENT, walled=True, encoding="utf-8", declare_paywall=True)
    assert out.count(FRAGMENT) == 1
    kept = b"".join(page[s:e] for s, e in gate.paragraphs)
    for marker in markers:
        if marker.encode() not in kept:
            assert marker.encode() not in out, marker
    assert b'class="article-body paywall-gated"' in out
    assert out.endswith(b"</div><footer>Footer</footer></body></html>")


@pytest.mark.parametrize(
    "page",
    [
        # a decoy of the gated element inside an attribute value, before the real one
        b"<html><body><div data-x='<div class=\"article-body\"><p>x</p></div>'></div>"
        + b'<div class="article-body">'
        + PARAS.encode()
        + b"</div></body></html>",
        # an end tag inside an attribute value, after the teaser
        b'<html><body><div class="article-body"><p>Para 1 secret-1.</p><p>Para 2 secret-2.</p>'
        + b"<div data-tpl='</div>'></div><p>Para 3 secret-3.</p><p>Para 4 secret-4.</p>"
        + b"</div></body></html>",
    ],
    ids=["decoy-start-tag", "decoy-end-tag"],
)
def test_markup_inside_attribute_values_cannot_open_the_wall(page: bytes) -> None:
    pieces = cut_page(page, ARTICLE, 1, walled=True, encoding="utf-8", declare_paywall=True)
    assert pieces is not None
    out = b"".join((pieces[0], FRAGMENT, pieces[1]))
    for hidden in (b"secret-2", b"secret-3", b"secret-4"):
        assert hidden not in out
