"""Walled pages leak nothing: issue 9, classes 4, 5 and 6, and the harms to honest readers.

Black-box: every page goes through `PaywallMiddleware` (the production entry point) in
front of a small upstream that serves it at a premium path, or at a metered path to a
reader whose free articles are used up, and the response is judged by the DOM that an
independent, spec-compliant HTML5 parser (html5lib) builds from it, decoded the way a
browser decodes it (see tests/leaks.py).

What is specified (CONTRACT section 5, issue 9):

- Every element matching `content.article` outside inert <template> content is gated.
  A walled reader gets the gated content in document order up to the end of its
  `teaser_paragraphs`-th <p> (headline, byline, figures before that point kept), capped
  at `teaser_max_words` words, then the `data-paywall="subscribe"` prompt; with
  `content.page_param` set, pages other than the first get no teaser paragraphs.
- No copy of hidden text anywhere in the page. A copy is a run of 8 consecutive words
  of the hidden text, case-insensitive, punctuation ignored; SHORTER FRAGMENTS ARE NOT
  RECOGNISED, so scripts that share a word or a short phrase with the article stay.

Each page below is hand-written in the shape real news sites ship; paragraphs are
distinct sentences, so any 8-word run of a hidden one pins down a leak.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from paywall import PaywallMiddleware

from .conftest import client_for
from .leaks import (
    Element,
    ancestors,
    has_words,
    inside_inert_template,
    leaked_runs,
    matcher,
    model_cut,
    parents,
    parse,
    position,
    prompts,
    text_position,
    visible_text,
    words,
)

pytestmark = pytest.mark.anyio

# -- the story -------------------------------------------------------------------------------

HEADLINE = "Council approves a flood barrier for the old harbour after a decade of delays"
BYLINE = "By Mei Ling Tan, City Reporter, 14 October 2026"
LEAD_IMAGE = "/images/keppel-quay-sea-wall.jpg"
LEAD_ALT = "Workers inspect the sea wall at Keppel Quay at low tide"
CAPTION = "The sea wall at Keppel Quay. Photo: Arun Pillai"

PARAS = [
    "The city council voted eleven to four on Tuesday night to build a retractable flood"
    " barrier across the mouth of the old harbour, ending a dispute that has stalled the"
    " project since 2014.",
    "Engineers say the barrier, modelled on the storm gates that protect Rotterdam, will keep"
    " surges out of the low-lying Keppel Quay district for at least the next sixty years.",
    "Construction is expected to begin in March and will shut the northern channel to"
    " pleasure craft for two summers, a concession that angered the marina association.",
    "Deputy mayor Rosalind Achebe told councillors that insurers had already warned that"
    " premiums for waterfront shops would triple without a permanent defence against rising"
    " tides.",
    "The four dissenting members argued that the forty-million-dollar price tag should have"
    " gone to a public referendum before any contract was signed with the Dutch consortium.",
    "Residents of the fishermen's cottages on Lantern Row, flooded three times in the past"
    " decade, packed the public gallery and cheered when the final tally was read aloud.",
    "A spokesman for the marina association, whose members pay an annual subscription for the"
    " harbour's storm warning service, said its lawyers were studying the channel closure.",
    "The barrier's first real test will come with next autumn's king tides, when hydrologists"
    " expect water to rise forty centimetres above the quay's historic high-water mark.",
]
TEASER, HIDDEN = PARAS[:2], PARAS[2:]
FURNITURE = [HEADLINE, BYLINE, CAPTION]

# The second and third pages of the paginated version of the story.
PAGE_TWO = [
    "Marina association chair Bernadette Quill said her members had been offered berths at the"
    " Tanjong Rhu basin during the closure, eleven kilometres from their homes.",
    "The Dutch consortium, Van Houten Waterwerken, built similar gates at Dordrecht and says"
    " the Keppel Quay design can be raised from its seabed housing in nine minutes.",
    "Its contract includes a penalty clause of two hundred thousand dollars for every week the"
    " northern gate is delivered late, according to papers tabled on Tuesday.",
    "Opposition councillor Farid Hassan promised to keep pressing for a referendum and said he"
    " would ask the auditor-general to review how the tender was scored.",
]
PAGE_THREE = [
    "Hydrologists at the port authority have modelled a once-in-a-century storm arriving at"
    " high tide and conclude the barrier would hold back almost two metres of surge.",
    "Without it, their model floods the cottages on Lantern Row to waist height and puts the"
    " electrical substation beneath the fish market under water within an hour.",
    "The authority will publish the full model next month and invite residents to a series of"
    " open evenings at the old customs house on Cable Street.",
    "A public consultation on the design of the gatehouse, including a proposed viewing"
    " platform and a small museum, will run until the end of January.",
]


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def paragraphs_html(paras: list[str]) -> str:
    return "\n".join(f"<p>{esc(text)}</p>" for text in paras)


def furniture_html() -> str:
    return (
        f'<h1 class="headline">{esc(HEADLINE)}</h1>\n'
        '<div class="byline">By <a rel="author" href="/staff/mei-ling-tan">Mei Ling Tan</a>,'
        ' City Reporter, <time datetime="2026-10-14">14 October 2026</time></div>\n'
        f'<figure class="lead"><img src="{LEAD_IMAGE}" alt="{esc(LEAD_ALT)}" width="1200"'
        f' height="675"><figcaption>{esc(CAPTION)}</figcaption></figure>\n'
    )


def story(
    paras: list[str] = PARAS,
    *,
    open_tag: str = '<div class="story-body">',
    close_tag: str = "</div>",
    after_first: str = "",
    first_attrs: str = "",
    lede_prefix: str = "",
) -> str:
    """The gated element: furniture, then the paragraphs (`after_first` goes between the
    first and the second, `lede_prefix` at the start of the first)."""
    first, *rest = paras
    return (
        f"{open_tag}\n{furniture_html()}<p{first_attrs}>{lede_prefix}{esc(first)}</p>\n"
        f"{after_first}\n"
        f"{paragraphs_html(rest)}\n{close_tag}"
    )


def news_page(article: str, *, head: str = "", before: str = "", after: str = "") -> str:
    """A news site's article page around `article`."""
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": HEADLINE,
            "datePublished": "2026-10-14T08:00:00+08:00",
            "author": {"@type": "Person", "name": "Mei Ling Tan"},
            "image": [LEAD_IMAGE],
        }
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(HEADLINE)} | The Harbour Ledger</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/ledger.css">
<script type="application/ld+json">{ld}</script>
{head}
</head>
<body class="article-page">
<header class="masthead"><a class="logo" href="/">The Harbour Ledger</a>
<nav><a href="/city">City</a> <a href="/business">Business</a> <a href="/opinion">Opinion</a></nav>
</header>
<main id="content">
{before}
{article}
{after}
</main>
<footer class="site-footer"><p>&copy; 2026 The Harbour Ledger. All rights reserved.</p>
<a class="share" href="/share"><svg class="icon" width="16" height="16">
<title>Share this story</title><use href="#icon-share"></use></svg></a>
</footer>
<script src="/static/ledger.js" defer></script>
</body>
</html>
"""


# -- the paywall in front of an upstream -------------------------------------------------------

Page = str | bytes | Callable[[dict[str, list[str]]], str]


def upstream(page: Page, content_type: str = "text/html; charset=utf-8") -> Any:
    """An ASGI app serving `page` at every path (a callable gets the parsed query)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if callable(page):
            query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
            body = page(query).encode()
        else:
            body = page.encode() if isinstance(page, str) else page
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def config_text(article: str = "div.story-body", *, teaser: int = 2, extra: str = "") -> str:
    return f"""\
publication: The Harbour Ledger
meter:
  limit: 3
  period: month
  timezone: Asia/Singapore
content:
  default: free
  rules:
    - {{path: "/premium/*", access: premium}}
    - {{path: "/articles/*", access: metered}}
  article: "{article}"
  teaser_paragraphs: {teaser}
  teaser_max_words: 120
{extra}offers:
  - id: digital-annual
    headline: "Digital, annual — two months free"
    url: /subscribe?offer=digital-annual
    audience: [anonymous, registered]
  - id: weekend
    headline: "Weekend print edition with the Café Society supplement"
    url: /subscribe?offer=weekend
    audience: [anonymous, registered]
store:
  prefix: "PREFIX"
  timeout_ms: 1000
"""


View = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture(params=["premium", "metered-limit-used"])
def walled(request: pytest.FixtureRequest, store: Any, config_file: Callable[..., Path]) -> View:
    """GET the page as a walled reader: on a premium path, or on a metered path after the
    reader's free articles are used up."""

    async def view(
        page: Page,
        *,
        article: str = "div.story-body",
        teaser: int = 2,
        extra: str = "",
        query: str = "",
        content_type: str = "text/html; charset=utf-8",
    ) -> httpx.Response:
        config = config_file(config_text(article, teaser=teaser, extra=extra))
        app = PaywallMiddleware(upstream(page, content_type), config=config, redis=store)
        async with client_for(app) as client:
            if request.param == "premium":
                return await client.get(f"/premium/harbour-barrier{query}")
            for n in range(3):
                earlier = await client.get(f"/articles/earlier-{n}")
                assert earlier.status_code == 200
            return await client.get(f"/articles/harbour-barrier{query}")

    return view


@pytest.fixture
def counted(store: Any, config_file: Callable[..., Path]) -> View:
    """GET the page as a reader with free articles left: counted, full article, meter."""

    async def view(page: Page, *, article: str = "div.story-body") -> httpx.Response:
        config = config_file(config_text(article))
        app = PaywallMiddleware(upstream(page), config=config, redis=store)
        async with client_for(app) as client:
            return await client.get("/articles/harbour-barrier")

    return view


# -- what the reader got -------------------------------------------------------------------------


def dom(response: httpx.Response, *, scripting: bool = True) -> Element:
    return parse(response.content, response.headers.get("content-type", ""), scripting=scripting)


def expect_browser_cut(
    page: str, selector: str, teaser: list[str], hidden: list[str], paragraphs: int = 2
) -> None:
    """The test page means what the test says: a browser (html5lib, scripts on) puts
    `teaser` before the cut and `hidden` after it, inside the gated content."""
    cut = model_cut(parse(page), selector, paragraphs, 120)
    for text in teaser:
        assert has_words(cut.teaser, text), f"not teaser in the original: {text[:40]}"
    for text in hidden:
        assert has_words(cut.hidden, text), f"not hidden in the original: {text[:40]}"


def assert_walled(
    response: httpx.Response,
    *,
    teaser: list[str],
    hidden: list[str],
    selector: str = "div.story-body",
    prompt_in_gate: bool = True,
    allowed: list[str] | None = None,
) -> Element:
    """A wall: no 8-word run of `hidden` reachable anywhere in the page, the teaser
    rendered, then one subscribe prompt (in the rendered gated element). Every problem
    found is reported at once."""
    assert response.status_code == 200
    root = dom(response)
    problems: list[str] = []
    found = prompts(root, "subscribe")
    prompt_text = " ".join(" ".join(el.itertext()) for el in found)
    content_type = response.headers.get("content-type", "")
    allowed = [*teaser, *FURNITURE, prompt_text, *(allowed or [])]
    leaks = leaked_runs(response.content, hidden, allowed, content_type)
    if leaks:
        problems.append(f"{len(leaks)} runs of hidden text reachable, e.g. {leaks[:3]}")
    shown = visible_text(root)
    problems += [f"teaser missing: {text[:50]!r}" for text in teaser if not has_words(shown, text)]
    if len(found) != 1:
        problems.append(f"{len(found)} rendered subscribe prompts, not 1")
    else:
        [prompt] = found
        last = text_position(root, teaser[-1]) if teaser else None
        if last is not None and last > position(root, prompt):
            problems.append("the teaser's last paragraph comes after the prompt")
        parent_of = parents(root)
        gated = matcher(selector)
        if prompt_in_gate and not any(
            gated(up) and not inside_inert_template(up, parent_of)
            for up in ancestors(prompt, parent_of)
        ):
            problems.append("the prompt is not inside a rendered gated element")
    assert problems == []
    return root


# == class 4: where a browser ends the article, not where a byte scanner does =====================

STRAY_DIV_END = {
    # A stray </div> a browser ignores: td and object are scope boundaries for </div>.
    "td": '<table class="stats"><tr><th>Surges since 2014</th><td>23</div></td></tr></table>',
    "object": (
        '<object data="/graphics/surge-zone.svg" type="image/svg+xml">'
        '<img src="/graphics/surge-zone.png" alt="Map of the surge zone"></div></object>'
    ),
    # With scripts on, noscript content is raw text: its </div> is text.
    "noscript": (
        '<noscript><img src="https://pixel.example.net/p.gif?u=harbour" width="1" height="1"'
        ' alt=""></div></noscript>'
    ),
    # In SVG, CDATA is text.
    "svg-cdata": (
        '<svg class="chart" viewBox="0 0 300 80" role="img"><desc><![CDATA[Exported by the'
        " newsroom chart tool; legend markup: </div></div>]]></desc>"
        '<rect x="0" y="10" width="230" height="20"></rect></svg>'
    ),
}


@pytest.mark.parametrize("where", sorted(STRAY_DIV_END))
async def test_stray_div_end_tag_a_browser_ignores_does_not_end_the_article(
    walled: View, where: str
) -> None:
    page = news_page(story(after_first=STRAY_DIV_END[where]))
    expect_browser_cut(page, "div.story-body", TEASER, HIDDEN)
    assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)


async def test_document_write_of_a_script_inside_an_escaped_script_does_not_end_it(
    walled: View,
) -> None:
    # "<!--" then "<script" puts the tokenizer in the double-escaped state: the inner
    # </script> does not end the script, and its "</div>" is script text.
    ad = (
        "<script><!--\n"
        'document.write(\'<div class="ad" id="ad-mid">'
        '<script src="https://ads.example.net/tag.js?slot=mid"></script></div>\');\n'
        "//--></script>"
    )
    page = news_page(story(after_first=ad))
    expect_browser_cut(page, "div.story-body", TEASER, HIDDEN)
    assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)


async def test_self_closed_svg_title_does_not_swallow_the_article_up_to_a_later_title(
    walled: View,
) -> None:
    # In SVG, <title/> is an empty element; the next </title> is the footer icon's.
    icon = (
        '<svg class="icon" width="12" height="12" aria-hidden="true"><title/>'
        '<use href="#icon-pin"></use></svg> '
    )
    page = news_page(story(lede_prefix=icon))
    expect_browser_cut(page, "div.story-body", TEASER, HIDDEN)
    assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)


async def test_article_split_over_several_gated_elements_is_cut_in_document_order(
    walled: View,
) -> None:
    # A CMS that closes the body around each ad slot: the teaser runs across elements,
    # and every element after the cut is hidden too.
    article = (
        '<div class="story-body">\n' + furniture_html() + f"<p>{esc(PARAS[0])}</p>\n</div>\n"
        '<div class="ad-slot" id="ad-1"><ins class="ad" data-slot="mid-1"></ins></div>\n'
        f'<div class="story-body">\n{paragraphs_html(PARAS[1:4])}\n</div>\n'
        '<aside class="related"><h2>Related</h2><a href="/city/sea-level">Sea levels</a></aside>\n'
        f'<div class="story-body">\n{paragraphs_html(PARAS[4:])}\n</div>'
    )
    page = news_page(article)
    expect_browser_cut(page, "div.story-body", TEASER, HIDDEN)
    assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)


DECOY = (
    '<template id="story-card"><div class="story-body"><h3 class="card-title"></h3>'
    '<a class="card-link" href=""></a></div></template>'
)


async def test_template_decoy_before_the_article_does_not_take_the_wall(walled: View) -> None:
    page = news_page(story(), before=DECOY)
    expect_browser_cut(page, "div.story-body", TEASER, HIDDEN)
    assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)


async def test_template_decoy_does_not_take_the_meter_banner_of_a_counted_reader(
    counted: View,
) -> None:
    page = news_page(story(), before=DECOY)
    response = await counted(page)
    root = dom(response)
    [banner] = prompts(root, "meter")  # rendered: not inside the inert template
    parent_of = parents(root)
    gated = matcher("div.story-body")
    assert any(gated(up) for up in ancestors(banner, parent_of))
    shown = visible_text(root)
    assert all(has_words(shown, text) for text in PARAS)  # counted: the whole article


async def test_promo_article_before_the_story_does_not_take_the_wall(walled: View) -> None:
    # Selector `article`: both match, both are gated; the promo holds no <p>, so the
    # teaser is the promo card plus the story up to its second paragraph.
    promo = (
        '<article class="promo"><a href="/opinion/barrier-costs">'
        "<h3>Opinion: who should pay to keep the sea out?</h3></a></article>"
    )
    article = story(open_tag='<article class="story">', close_tag="</article>")
    page = news_page(article, before=promo)
    expect_browser_cut(page, "article", TEASER, HIDDEN)
    assert_walled(
        await walled(page, article="article"), teaser=TEASER, hidden=HIDDEN, selector="article"
    )


SHADOW_HOSTS = {
    # The story in the shadow tree of a host element outside it.
    "story-inside-the-shadow-tree": (
        '<div class="story-host"><template shadowrootmode="open">'
        "<style>p { font: 18px/1.5 Georgia, serif; }</style>\n"
        f"{story()}\n</template></div>"
    ),
    # The gated element is the host; its shadow tree holds the story.
    "gated-element-is-the-shadow-host": (
        '<div class="story-body"><template shadowrootmode="open">'
        f"<style>p {{ margin: 0 0 1em; }}</style>\n{furniture_html()}{paragraphs_html(PARAS)}"
        "\n</template></div>"
    ),
}


@pytest.mark.parametrize("shape", sorted(SHADOW_HOSTS))
async def test_article_in_declarative_shadow_dom_is_walled(walled: View, shape: str) -> None:
    # <template shadowrootmode> is not inert: browsers render its content as the host's
    # shadow tree, so the story in it is on screen and must be walled. Where the prompt
    # goes (in the shadow tree or instead of it) and whether a teaser is kept there is
    # left to the paywall; no hidden text may remain.
    page = news_page(SHADOW_HOSTS[shape])
    expect_browser_cut(page, "div.story-body", TEASER, HIDDEN)
    assert_walled(await walled(page), teaser=[], hidden=HIDDEN, prompt_in_gate=False)


# == class 5: the teaser is bounded ================================================================

ALL_WORDS = " ".join(PARAS).split()


def longest_shown_prefix(shown: str) -> int:
    """How many of the article's first words (white-space split) are rendered, in order."""
    low, high = 0, len(ALL_WORDS)
    while low < high:
        mid = (low + high + 1) // 2
        if has_words(shown, " ".join(ALL_WORDS[:mid])):
            low = mid
        else:
            high = mid - 1
    return low


async def assert_capped(response: httpx.Response) -> None:
    root = assert_walled(response, teaser=[], hidden=[" ".join(ALL_WORDS[120:])])
    shown = longest_shown_prefix(visible_text(root))
    assert 20 <= shown <= 120, f"{shown} words of the article shown"


async def test_one_paragraph_split_by_br_br_is_capped_at_teaser_max_words(walled: View) -> None:
    body = "<br><br>\n".join(esc(text) for text in PARAS)
    page = news_page(f'<div class="story-body">\n{furniture_html()}<p>{body}</p>\n</div>')
    await assert_capped(await walled(page))


async def test_one_very_long_paragraph_is_capped_at_teaser_max_words(walled: View) -> None:
    page = news_page(
        f'<div class="story-body">\n{furniture_html()}<p>{esc(" ".join(PARAS))}</p>\n</div>'
    )
    await assert_capped(await walled(page))


def paginated(query: dict[str, list[str]]) -> str:
    number = query.get("page", ["1"])[0] or "1"
    paras = {"1": PARAS, "2": PAGE_TWO, "3": PAGE_THREE}[number]
    pager = (
        '<nav class="pager"><a href="?page=1">1</a> <a href="?page=2">2</a>'
        ' <a href="?page=3">3</a></nav>'
    )
    return news_page(story(paras), after=pager)


@pytest.mark.parametrize("number", ["2", "3"])
async def test_later_pages_of_a_paginated_article_get_no_teaser(walled: View, number: str) -> None:
    paras = {"2": PAGE_TWO, "3": PAGE_THREE}[number]
    response = await walled(paginated, extra="  page_param: page\n", query=f"?page={number}")
    assert_walled(response, teaser=[], hidden=paras)


@pytest.mark.parametrize("query", ["", "?page=1", "?page="])
async def test_first_page_of_a_paginated_article_gets_the_teaser(walled: View, query: str) -> None:
    response = await walled(paginated, extra="  page_param: page\n", query=query)
    assert_walled(response, teaser=TEASER, hidden=HIDDEN)


# == class 6: no copy of the hidden text anywhere else ============================================

FULL_TEXT = " ".join(PARAS)
HIDDEN_TEXT = " ".join(HIDDEN)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def next_data() -> str:
    data = {
        "props": {
            "pageProps": {
                "story": {
                    "headline": HEADLINE,
                    "bodyHtml": "".join(f"<p>{esc(text)}</p>" for text in PARAS),
                }
            }
        },
        "page": "/articles/[slug]",
        "query": {"slug": "harbour-barrier"},
        "buildId": "k3Fh2xQv",
    }
    text = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="__NEXT_DATA__" type="application/json">{text}</script>'


def js_string(text: str) -> str:
    """A single-quoted JavaScript string as a minifier writes it."""
    out = text.replace("\\", "\\\\").replace("'", "\\x27").replace("\n", "\\n")
    return "".join(ch if ord(ch) < 128 else f"\\u{ord(ch):04x}" for ch in out)


EIGHT_WORDS = "a public referendum before any contract was signed"  # from the fifth paragraph
assert len(EIGHT_WORDS.split()) == 8

# Where the copy goes: (head, before the article, after the article, teaser <p> attributes,
# between the first and second paragraph).
COPIES: dict[str, dict[str, str]] = {
    "json-ld-articleBody": {
        "head": '<script type="application/ld+json">'
        + json.dumps(
            {
                "@context": "https://schema.org",
                "@type": "NewsArticle",
                "headline": HEADLINE,
                "articleBody": FULL_TEXT,
            }
        )
        + "</script>"
    },
    "next-data-script": {"after": next_data()},
    "inline-js-string-escapes": {
        "after": "<script>window.__STORY_REST__ = '"
        + js_string("\n\n".join(HIDDEN).replace("'", "\u2019"))
        + "';</script>"
    },
    "noscript": {
        "after": f'<noscript><div class="story-full">{paragraphs_html(HIDDEN)}</div></noscript>'
    },
    "template": {"after": f'<template id="story-continued">{paragraphs_html(HIDDEN)}</template>'},
    "declarative-shadow-root": {
        "after": '<div class="reader-view"><template shadowrootmode="open">'
        f"<style>p {{ margin: 0 }}</style>{paragraphs_html(HIDDEN)}</template></div>"
    },
    "xmp": {"after": f'<xmp class="debug-dump">{"".join(f"<p>{t}</p>" for t in HIDDEN)}</xmp>'},
    "textarea": {"after": f'<textarea class="share-text" readonly>{esc(HIDDEN_TEXT)}</textarea>'},
    "svg-text": {
        "after": '<svg class="pull-quote" viewBox="0 0 900 60" role="img">'
        f'<text x="0" y="40">{esc(PARAS[3])}</text></svg>'
    },
    "svg-title": {
        "after": '<svg class="quote-card" viewBox="0 0 40 40"><title>'
        f'{esc(PARAS[4])}</title><rect width="40" height="40"></rect></svg>'
    },
    "iframe-srcdoc": {
        "after": '<iframe class="reader" title="Reader view" srcdoc="'
        + esc(f"<!doctype html><article>{paragraphs_html(HIDDEN)}</article>")
        + '"></iframe>'
    },
    "meta-itemprop-articleBody": {
        "after": '<div itemscope itemtype="https://schema.org/NewsArticle">'
        f'<meta itemprop="headline" content="{esc(HEADLINE)}">'
        f'<meta itemprop="articleBody" content="{esc(FULL_TEXT)}"></div>'
    },
    "data-attribute": {
        "after": f'<div id="share-bar" data-share-text="{esc(PARAS[2] + " " + PARAS[3])}"></div>'
    },
    "title-attribute": {
        "after": f'<a class="read-on" href="#rest" title="{esc(PARAS[5])}">Read on</a>'
    },
    "alt-attribute": {
        "after": '<div class="gallery"><img src="/images/lantern-row.jpg"'
        f' alt="{esc(PARAS[6])}"></div>'
    },
    "comment": {"after": f"<!-- cached render, story body:\n{paragraphs_html(HIDDEN)}\n-->"},
    "base64-attribute": {
        "after": f'<div class="story-payload" data-body="{b64(FULL_TEXT)}"></div>'
    },
    "base64-script": {"after": f'<script>window.__restore = atob("{b64(HIDDEN_TEXT)}");</script>'},
    "eight-word-run-in-script": {
        "after": '<script>dataLayer.push({"event": "article_view", "pullQuote": '
        f'"{EIGHT_WORDS}"}});</script>'
    },
    "css-generated-content": {
        "head": f'<style>.story-body::after {{ content: "{PARAS[7]}"; }}</style>'
    },
    "attribute-of-a-teaser-paragraph": {"first_attrs": f' data-next-paragraph="{esc(PARAS[2])}"'},
    "comment-inside-the-teaser": {"after_first": f"<!-- next: {esc(PARAS[3])} -->"},
}


@pytest.mark.parametrize("where", sorted(COPIES))
async def test_copies_of_8_or_more_hidden_words_elsewhere_are_removed(
    walled: View, where: str
) -> None:
    place = COPIES[where]
    article = story(
        after_first=place.get("after_first", ""), first_attrs=place.get("first_attrs", "")
    )
    page = news_page(article, head=place.get("head", ""), after=place.get("after", ""))
    # The copy alone, without the story: the check does find it there.
    copy_only = news_page(
        f"<p{place.get('first_attrs', '')}></p>{place.get('after_first', '')}",
        head=place.get("head", ""),
        after=place.get("after", ""),
    )
    assert leaked_runs(copy_only, HIDDEN, TEASER) != []
    assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)


async def test_meta_descriptions_holding_the_first_300_characters_of_the_body(
    walled: View,
) -> None:
    # With a one-paragraph teaser, the first 300 characters run well into paragraph two.
    opening = FULL_TEXT[:300]
    assert len(words(opening[len(PARAS[0]) :])) >= 16
    head = (
        f'<meta name="description" content="{esc(opening)}">\n'
        f'<meta property="og:description" content="{esc(opening)}">\n'
        f'<meta name="twitter:description" content="{esc(opening)}">'
    )
    page = news_page(story(), head=head)
    response = await walled(page, teaser=1)
    assert_walled(response, teaser=PARAS[:1], hidden=PARAS[1:])


# A long investigation: ~2,700 words, so a copy's end lies far past the first few hundred
# runs of words (today's fingerprints stop after 300).
_STREETS = [
    "Lantern Row",
    "Cooper Lane",
    "Mariner Street",
    "Tide Walk",
    "Salt House Road",
    "Ferry Steps",
    "Rope Walk",
    "Chandlers Yard",
    "Dock Gate Road",
    "Netmaker Alley",
    "Cable Street",
]
_NAMES = [
    "Amina Rahman",
    "Joseph Okafor",
    "Lucia Ferreira",
    "Tomasz Nowak",
    "Priya Venkataraman",
    "Hamish Doyle",
    "Ngozi Eze",
    "Wei Jie Lim",
    "Carmen Ruiz",
    "Dmitri Volkov",
    "Siobhan Kelly",
    "Rahul Mehta",
    "Beatriz Santos",
]
_DEFECTS = [
    "black mould in both bedrooms",
    "a boiler that failed every winter",
    "rotten window frames",
    "exposed wiring in the hallway",
    "a leaking roof above the stairwell",
    "rats in the cellar",
    "cracked sewage pipes under the kitchen",
    "no working smoke alarms",
]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _investigation() -> list[str]:
    sentences = []
    for n in range(130):
        street, name = _STREETS[n % 11], _NAMES[n % 13]
        defect, month, year = _DEFECTS[n % 8], _MONTHS[n % 12], 2015 + n % 9
        sentences.append(
            [
                f"Inspectors who visited {street} in {month} {year} recorded {defect} in flat"
                f" {n + 3} and gave the landlord {n % 5 + 14} days to begin repairs.",
                f"{name}, who has rented flat {n + 7} on {street} since {year}, said {defect}"
                f" had been reported {n % 6 + 2} times without a visit from the managing agent.",
                f"Council records show the freeholder of {street} collected {(n + 4) * 1130}"
                f" dollars in rent in {year} and spent {(n + 1) * 97} dollars on upkeep.",
                f"By {month} {year}, {n % 7 + 3} households on {street} had asked the tenancy"
                f" tribunal to cut their rent over {defect}, filing {n + 11} complaints.",
            ][n % 4]
        )
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


# The last part is unlike the rest: no run of it occurs earlier in the article.
LONG = _investigation() + PAGE_TWO + PAGE_THREE


async def test_long_article_streamed_in_next_js_flight_chunks_leaks_nothing(walled: View) -> None:
    # Next.js (app router) streams the rendered story as self.__next_f.push chunks at the
    # end of the body: the last chunks hold only the last part of the article.
    assert len(" ".join(LONG).split()) > 2500
    chunks = []
    for index in range(0, len(LONG), 5):
        payload = "".join(
            f'{index + n + 10:x}:["$","p",null,{{"children":{json.dumps(text)}}}]\n'
            for n, text in enumerate(LONG[index : index + 5])
        )
        chunks.append(f"<script>self.__next_f.push([1,{json.dumps(payload)}])</script>")
    page = news_page(story(LONG), after="\n".join(chunks))
    response = await walled(page)
    assert_walled(response, teaser=[LONG[0].split(". ")[0]], hidden=LONG[2:], allowed=LONG[:2])


# == harms to honest readers =====================================================================


async def test_headline_byline_and_lead_image_inside_the_gate_are_kept(walled: View) -> None:
    page = news_page(story())
    root = assert_walled(await walled(page), teaser=TEASER, hidden=HIDDEN)
    [headline] = [el for el in root.iter() if el.tag == "h1"]
    assert has_words(" ".join(headline.itertext()), HEADLINE)
    shown = visible_text(root)
    assert has_words(shown, BYLINE) and has_words(shown, CAPTION)
    images = [el for el in root.iter() if el.tag == "img" and el.get("src") == LEAD_IMAGE]
    assert len(images) == 1 and images[0].get("alt") == LEAD_ALT
    # ... and they come before the teaser, as the publisher placed them.
    headline_at = text_position(root, HEADLINE)
    first_at = text_position(root, PARAS[0])
    assert headline_at is not None and first_at is not None and headline_at < first_at


UNRELATED_SCRIPTS = [
    # checkout: shares "subscription" (and nothing longer) with the hidden text
    '<script id="checkout-config">window.checkoutConfig = {"plans": [{"id": "digital-monthly",'
    ' "label": "Digital subscription", "price": "$12 a month"}], "subscription": {"trialDays":'
    ' 14, "renews": true}, "currency": "SGD"};</script>',
    # analytics: the story's keywords, each a short phrase of the article
    '<script>window.dataLayer = window.dataLayer || []; dataLayer.push({"section": "City",'
    ' "keywords": ["flood barrier", "old harbour", "Keppel Quay", "marina association",'
    ' "storm warning service"], "wordCount": 262, "access": "metered"});</script>',
    # a newsletter widget
    '<script>document.addEventListener("DOMContentLoaded", function () { var f ='
    ' document.querySelector("#newsletter"); if (f) { f.dataset.topic = "harbour"; } });</script>',
]


async def test_unrelated_scripts_sharing_words_with_the_article_stay_byte_for_byte(
    walled: View,
) -> None:
    page = news_page(story(), head="\n".join(UNRELATED_SCRIPTS[:2]), after=UNRELATED_SCRIPTS[2])
    response = await walled(page)
    root = assert_walled(response, teaser=TEASER, hidden=HIDDEN)
    scripts = [el.text or "" for el in root.iter() if el.tag == "script"]
    for script in UNRELATED_SCRIPTS:
        assert script.encode() in response.content, script[:60]
        inner = script[script.index(">") + 1 : -len("</script>")]
        assert inner in scripts


# The teaser and the prompt carry characters beyond ASCII: é and the em dash.
ACCENTED = [
    "Le Petit Café on Keppel Quay — the harbour's oldest bistro — will close for two summers"
    " while the barrier's northern gate is built beside its terrace, its owner said.",
    PARAS[1],
]


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [
        ("utf-8-sig", "text/html; charset=windows-1252"),  # the BOM wins, as in browsers
        ("windows-1252", "text/html; charset=windows-1252"),
        ("utf-8", "text/html"),  # only <meta charset> says
    ],
    ids=["utf8-bom-with-windows-1252-header", "windows-1252", "meta-charset-only"],
)
async def test_prompt_and_teaser_read_correctly_whatever_the_charset(
    walled: View, encoding: str, content_type: str
) -> None:
    page = news_page(story([*ACCENTED, *HIDDEN]))
    if encoding == "utf-8-sig":
        page = page.replace('<meta charset="utf-8">\n', "")
    elif encoding == "windows-1252":
        page = page.replace('<meta charset="utf-8">', '<meta charset="windows-1252">')
    response = await walled(page.encode(encoding), content_type=content_type)
    root = assert_walled(response, teaser=ACCENTED, hidden=HIDDEN)
    # As a browser decodes it (BOM, then header, then <meta>): nothing garbled.
    [prompt] = prompts(root, "subscribe")
    offers = " ".join(" ".join(prompt.itertext()).split())
    assert "Digital, annual — two months free" in offers
    assert "Weekend print edition with the Café Society supplement" in offers
    shown = visible_text(root)
    assert "Le Petit Café on Keppel Quay — the harbour" in " ".join(shown.split())
    assert "\ufffd" not in shown
