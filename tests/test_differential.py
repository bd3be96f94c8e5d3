"""Differential test (issue 9): generated adversarial pages, walled through the middleware,
judged against an independent HTML5 parser.

Hypothesis builds article pages with random nesting around and inside the gated element
(divs, sections, tables, lists, SVG, MathML, templates, noscript, escaped scripts,
comments, markup in attribute values, stray end tags a browser ignores, a gated element
split in several, decoys in templates), and sprinkles copies of the hidden paragraphs
(whole, or any window of 8 or more words) into random text-bearing places: comments,
scripts (JS strings with \\u and \\n escapes, JSON, JSON-LD), noscript, templates,
declarative shadow roots, textarea, xmp, SVG text and title, iframe srcdoc, meta content,
data-/title/alt attributes, CSS generated content, base64 of whole paragraphs.

The oracle is html5lib (scripts on) on the page as the upstream sent it: the gated content
up to the end of its 2nd <p>, capped at 120 words, is the teaser; what follows is hidden.
The walled response must have the subscribe prompt and the teaser's first paragraph, and
no run of 8 hidden words anywhere html5lib can reach in it, with scripts on or off (see
tests/leaks.py; runs shorter than 8 words are not recognised as copies).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paywall import PaywallMiddleware

from .conftest import client_for
from .leaks import has_words, leaked_runs, model_cut, parse, prompts, visible_text

pytestmark = pytest.mark.anyio

SELECTOR = ".story-body"
TEASER_PARAGRAPHS = 2
MAX_WORDS = 120

HEADLINE = "Night buses to be scrapped in February as transit authority turns to taxi vouchers"
TEASER = [
    "The regional transit authority will scrap the night bus network in February, replacing"
    " eleven routes with a taxi voucher scheme that critics call unworkable.",
    "Shift workers at the container port, who rely on the N4 and N9 services, learned of the"
    " change from a notice taped inside a bus shelter.",
]
HIDDEN = [
    "Internal budget papers show the night network lost nine million dollars last year,"
    " largely because fares were frozen while drivers' overtime rates doubled.",
    "Vouchers worth twelve dollars a ride will be capped at sixteen journeys a month and can"
    " only be redeemed with three licensed taxi firms.",
    "Nurse Adaeze Obi, who finishes at the Northshore hospital after midnight, said a taxi"
    " home to Elmfield already costs her thirty-four dollars.",
    "The drivers' union has threatened a work-to-rule campaign and accused the authority of"
    " hiding the consultation results until after the vote.",
    "A spokeswoman for the authority said the voucher scheme would be reviewed after six"
    " months and that two of the busiest routes might return.",
]
PARAGRAPHS = TEASER + HIDDEN

CONFIG = f"""\
publication: The Harbour Ledger
meter:
  limit: 3
content:
  default: free
  rules:
    - {{path: "/premium/*", access: premium}}
  article: "{SELECTOR}"
  teaser_paragraphs: {TEASER_PARAGRAPHS}
  teaser_max_words: {MAX_WORDS}
offers:
  - id: digital-annual
    headline: "Digital, annual — two months free"
    url: /subscribe?offer=digital-annual
    audience: [anonymous, registered]
store:
  prefix: "PREFIX"
  timeout_ms: 1000
"""


def esc(text: str) -> str:
    return html.escape(text, quote=True)


# -- where copies of hidden text go ----------------------------------------------------------


def _js(text: str, style: int) -> str:
    """`text` as a JavaScript string literal, escaped one of several ways."""
    if style == 0:
        return json.dumps(text)
    if style == 1:  # every non-alphanumeric character as \\uXXXX
        return '"' + "".join(ch if ch.isalnum() else f"\\u{ord(ch):04x}" for ch in text) + '"'
    if style == 2:  # hard-wrapped source, \\n line breaks
        words = text.split()
        lines = [" ".join(words[i : i + 5]) for i in range(0, len(words), 5)]
        return "'" + "\\n".join(lines).replace("'", "\\'") + "'"
    return "'" + text.replace("'", "\\x27").replace(" ", "\\x20") + "'"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Each takes the copied text (a window of a hidden paragraph) and an escaping style.
# SAFE places are never rendered as page text, so they may sit inside the gated element
# before the cut too; the others are rendered text (or become it) and go elsewhere.
Place = Callable[[str, int], str]
SAFE: dict[str, Place] = {
    "comment": lambda t, s: f"<!-- {esc(t)} -->",
    "script-js-string": lambda t, s: f"<script>window.__s{s} = {_js(t, s)};</script>",
    "script-json": lambda t, s: (
        '<script type="application/json" class="story-data">'
        + json.dumps({"id": 17, "paragraphs": [t]})
        + "</script>"
    ),
    "json-ld": lambda t, s: (
        '<script type="application/ld+json">'
        + json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "articleBody": t})
        + "</script>"
    ),
    "noscript": lambda t, s: f"<noscript><p>{esc(t)}</p></noscript>",
    "template": lambda t, s: f'<template class="rest"><p>{esc(t)}</p></template>',
    "data-attribute": lambda t, s: f'<span class="marker" data-text="{esc(t)}"></span>',
    "title-attribute": lambda t, s: f'<a class="more" href="#more" title="{esc(t)}"></a>',
    "alt-attribute": lambda t, s: f'<img src="/img/route-map.png" alt="{esc(t)}">',
    "meta-content": lambda t, s: f'<meta itemprop="articleBody" content="{esc(t)}">',
    "base64-attribute": lambda t, s: f'<div class="payload" data-b="{_b64(t)}"></div>',
    "base64-script": lambda t, s: f'<script>var restored = atob("{_b64(t)}");</script>',
    "style-content": lambda t, s: f'<style>.story-end::after {{ content: "{t}"; }}</style>',
    "srcdoc": lambda t, s: (
        f'<iframe title="reader" srcdoc="{esc("<p>" + esc(t) + "</p>")}"></iframe>'
    ),
}
RENDERED: dict[str, Place] = {
    "shadow-root": lambda t, s: (
        f'<div class="host"><template shadowrootmode="open"><p>{esc(t)}</p></template></div>'
    ),
    "textarea": lambda t, s: f'<textarea readonly class="share">{esc(t)}</textarea>',
    "xmp": lambda t, s: f"<xmp>{t}</xmp>",
    "svg-text": lambda t, s: f'<svg viewBox="0 0 900 40"><text x="0" y="20">{esc(t)}</text></svg>',
    "svg-title": lambda t, s: (
        f'<svg viewBox="0 0 9 9"><title>{esc(t)}</title><rect width="9"/></svg>'
    ),
    "plain-aside": lambda t, s: (
        f'<aside class="pull-quote"><blockquote>{esc(t)}</blockquote></aside>'
    ),
}
ANYWHERE = {**SAFE, **RENDERED}
HEAD = {
    name: SAFE[name]
    for name in ("comment", "script-js-string", "script-json", "json-ld", "style-content")
} | {"meta-description": lambda t, s: f'<meta name="description" content="{esc(t)}">'}
WHOLE_ONLY = {"base64-attribute", "base64-script"}  # base64 is only checked from ~60 chars

# Markup a byte scanner may misread but a browser does not: none of it ends the gated
# element, opens a paragraph, or holds more than a few words of text.
NOISE = [
    '<table class="stats"><tr><th>Routes</th><td>11</div></td></tr></table>',
    '<object data="/graphics/routes.svg" type="image/svg+xml">'
    '<img src="/graphics/routes.png" alt="Route map"></div></object>',
    '<noscript><img src="https://pixel.example.net/p.gif" alt=""></div></noscript>',
    '<svg class="chart"><desc><![CDATA[legend: </div></div> <p>]]></desc></svg>',
    '<script><!--\ndocument.write(\'<div class="ad"><script src="/ads.js"></script>'
    "</div>');\n//--></script>",
    '<svg class="icon" width="9" height="9"><title/><use href="#i"></use></svg>',
    "<!-- </div><p>legacy markup</p> -->",
    '<a class="tip" href="#t" title="</div><p>"></a>',
    "<textarea hidden></div></textarea>",
    '<template class="card"><div class="story-body"><p>Card</p></div></template>',
    "<br><br>",
    '<figure><img src="/img/shelter.jpg" alt="A bus shelter">'
    "<figcaption>The N4 stop</figcaption></figure>",
    '<div class="ad-slot"><div class="ad"><!-- ad --></div></div>',
    '<script type="text/template"><div class="x"></script>',
    '<style>.x::before { content: "</div>"; }</style>',
    "<xmp></div></xmp>",
    "<math><mi>x</div></mi></math>",
    '<script>if (a < b && c > d) { document.body.className += " js"; }</script>',
]
WRAPPERS = {
    "div": ('<div class="wrap">', "</div>"),
    "section": ('<section class="main-col">', "</section>"),
    "main": ("<main>", "</main>"),
    "table": ('<table class="layout"><tbody><tr><td>', "</td></tr></tbody></table>"),
    "list": ('<ul class="river"><li>', "</li></ul>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
}
GATE_TAGS = ["div", "section", "article"]


@dataclass
class Case:
    page: str


@st.composite
def hidden_windows(draw: st.DrawFn) -> str:
    """A run of 8 or more words (split on white space) of one hidden paragraph."""
    words = draw(st.sampled_from(HIDDEN)).split()
    length = draw(st.integers(8, len(words)))
    start = draw(st.integers(0, len(words) - length))
    return " ".join(words[start : start + length])


@st.composite
def copies(draw: st.DrawFn, places: dict[str, Place]) -> str:
    """One copy of hidden text in one of `places`."""
    name = draw(st.sampled_from(sorted(places)))
    text = draw(st.sampled_from(HIDDEN)) if name in WHOLE_ONLY else draw(hidden_windows())
    return places[name](text, draw(st.integers(0, 3)))


@st.composite
def paragraph_html(draw: st.DrawFn, text: str, before_cut: bool) -> str:
    words = [esc(word) for word in text.split()]
    if draw(st.booleans()):  # inline markup inside the paragraph
        start = draw(st.integers(0, len(words) - 1))
        end = draw(st.integers(start + 1, len(words)))
        tag = draw(st.sampled_from(["em", "strong", 'a href="/topics/transit"', 'span class="hl"']))
        words[start] = f"<{tag}>{words[start]}"
        words[end - 1] += f"</{tag.split()[0]}>"
    attrs = draw(st.sampled_from(["", ' class="para"', ' data-block="text"', ' id="p"']))
    if draw(st.integers(0, 4)) == 0:  # a copy in an attribute of a paragraph
        attrs += f' data-next="{esc(draw(hidden_windows()))}"'
    return f"<p{attrs}>{' '.join(words)}</p>"


@st.composite
def adversarial_pages(draw: st.DrawFn) -> Case:
    gate_tag = draw(st.sampled_from(GATE_TAGS))
    gate_open = f'<{gate_tag} class="story-body" data-id="17">'
    gate_close = f"</{gate_tag}>"
    inside: list[str] = []
    if draw(st.booleans()):
        inside.append(f'<h1 class="headline">{esc(HEADLINE)}</h1>')
        inside.append('<div class="byline">By Tomas Lindqvist, Transport Correspondent</div>')
    for index, text in enumerate(PARAGRAPHS):
        before_cut = index < TEASER_PARAGRAPHS
        for _ in range(draw(st.integers(0, 2))):
            inside.append(draw(st.sampled_from(NOISE)))
        if draw(st.integers(0, 3)) == 0:
            inside.append(draw(copies(SAFE if before_cut else ANYWHERE)))
        if index and draw(st.integers(0, 5)) == 0:  # the body split over gated elements
            inside.append(f'{gate_close}<aside class="ad">Advertisement</aside>{gate_open}')
        inside.append(draw(paragraph_html(text, before_cut)))
    for _ in range(draw(st.integers(0, 2))):
        inside.append(draw(st.one_of(st.sampled_from(NOISE), copies(ANYWHERE))))
    article = gate_open + "\n".join(inside) + gate_close
    for name in draw(st.lists(st.sampled_from(sorted(WRAPPERS)), max_size=3)):
        opening, closing = WRAPPERS[name]
        article = f"{opening}\n{article}\n{closing}"
    outside = st.one_of(st.sampled_from(NOISE), copies(ANYWHERE))
    before = draw(st.lists(outside, max_size=3))
    if draw(st.booleans()):
        before.append('<template id="decoy"><div class="story-body"></div></template>')
    after = draw(st.lists(outside, max_size=4))
    head = draw(st.lists(copies(HEAD), max_size=3))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(HEADLINE)}</title>
{"".join(head)}
</head><body>
<header><a href="/">The Harbour Ledger</a></header>
{"".join(before)}
{article}
{"".join(after)}
<footer><p>&copy; 2026 The Harbour Ledger</p><svg class="icon"><title>Share</title></svg></footer>
</body></html>
"""
    return Case(page)


@pytest.fixture
def site(store: Any, config_file: Callable[..., Path]) -> tuple[Any, list[bytes]]:
    """The paywall in front of an upstream serving whatever page is in the list."""
    current: list[bytes] = [b""]

    async def upstream(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = current[0]
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return PaywallMiddleware(upstream, config=config_file(CONFIG), redis=store), current


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=adversarial_pages())
async def test_walled_page_has_no_hidden_run_in_the_browser_dom(
    site: tuple[Any, list[bytes]], case: Case
) -> None:
    app, current = site
    # The oracle: where a browser puts the cut in the page as sent.
    cut = model_cut(parse(case.page), SELECTOR, TEASER_PARAGRAPHS, MAX_WORDS)
    assert cut.paragraphs[:1] and has_words(cut.teaser, cut.paragraphs[0]), "generator"
    assert all(has_words(cut.hidden, text) for text in HIDDEN), "generator"

    current[0] = case.page.encode()
    async with client_for(app) as client:
        response: httpx.Response = await client.get("/premium/night-buses")
    assert response.status_code == 200
    content_type = response.headers.get("content-type", "")
    root = parse(response.content, content_type)
    problems: list[str] = []
    found = prompts(root, "subscribe")
    if len(found) != 1:
        problems.append(f"{len(found)} rendered subscribe prompts, not 1")
    if not has_words(visible_text(root), cut.paragraphs[0]):
        problems.append("the teaser's first paragraph is not rendered")
    prompt_text = " ".join(" ".join(el.itertext()) for el in found)
    leaks = leaked_runs(response.content, [cut.hidden], [cut.teaser, prompt_text], content_type)
    if leaks:
        problems.append(f"{len(leaks)} runs of hidden text reachable, e.g. {leaks[:3]}")
    assert problems == []
