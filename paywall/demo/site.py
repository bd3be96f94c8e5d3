"""A small server-rendered demo newspaper to put the paywall in front of.

Plain HTML, no JavaScript. Every article page carries a NewsArticle JSON-LD
block in the head and renders its body as ``<div class="article-body">``
containing only ``<p>`` elements (plus at most one ``<h2>``).
"""

from __future__ import annotations

import json
from datetime import date
from html import escape
from pathlib import Path
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .articles import ARTICLES, METERED, Access, Article, find

CSS = Path(__file__).with_name("static.css").read_text(encoding="utf-8")

PLANS: tuple[tuple[str, str, str, str], ...] = (
    ("digital-monthly", "Digital", "$12 a month", "Unlimited articles. Cancel any time."),
    ("digital-annual", "Digital, annual", "$120 a year", "Unlimited articles, two months free."),
    ("premium-annual", "Premium", "$199 a year", "Digital plus Premium investigations."),
    ("student", "Student", "$4 a month", "Full digital access with a valid student card."),
)


def _fmt_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _byline(article: Article) -> str:
    prefix = "From" if article.access == "sponsored" else "By"
    when = f'<time datetime="{article.published.isoformat()}">{_fmt_date(article.published)}</time>'
    return f"{prefix} <strong>{escape(article.byline)}</strong> &middot; {when}"


def _label(access: Access) -> str:
    if access == "premium":
        return '<p class="label label-premium">Premium</p>'
    if access == "sponsored":
        return '<p class="label label-sponsored">Sponsored</p>'
    return ""


def json_ld(article: Article, publication: str) -> str:
    """NewsArticle JSON-LD, safe to place verbatim inside a ``<script>`` element."""
    free = article.access == "sponsored"
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.headline,
        "description": article.standfirst,
        "datePublished": article.published.isoformat(),
        "author": {"@type": "Organization" if free else "Person", "name": article.byline},
        "publisher": {"@type": "Organization", "name": publication},
        "articleSection": article.section,
        "articleBody": article.plain_text,
        "isAccessibleForFree": free,
    }
    if not free:
        data["hasPart"] = {
            "@type": "WebPageElement",
            "isAccessibleForFree": False,
            "cssSelector": ".article-body",
        }
    text = json.dumps(data, ensure_ascii=False, indent=2)
    # "<", ">" and "&" only ever occur inside JSON strings, where \\uXXXX is equivalent.
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _sections() -> list[str]:
    return list(dict.fromkeys(a.section for a in METERED))


def _anchor(section: str) -> str:
    return "section-" + section.lower().replace(" ", "-")


def page(
    publication: str,
    title: str,
    main: str,
    *,
    head: str = "",
    footer: str = "",
    home: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    pub = escape(publication)
    tag = "h1" if home else "p"
    nav = "".join(f'<a href="/#{_anchor(s)}">{escape(s)}</a>' for s in _sections())
    today = date.today()
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}</style>
{head}</head>
<body>
<header class="site-header"><div class="wrap">
<div class="topline"><span>{today:%A} {_fmt_date(today)}</span>
<span><a href="/subscribe">Subscribe</a><a href="/signin">Sign in</a></span></div>
<{tag} class="masthead"><a href="/">{pub}</a></{tag}>
<p class="motto">Independent news from the city on the water</p>
<nav class="site-nav"><a href="/">Home</a>{nav}<a href="/#premium">Premium</a></nav>
</div></header>
<main class="wrap">
{main}
</main>
<footer class="site-footer"><div class="wrap">
{footer}<p class="colophon">&copy; {today.year} {pub}. A fictional newspaper for demonstration
purposes; all people, places and events are invented.</p>
</div></footer>
</body>
</html>
"""
    return HTMLResponse(html, status_code=status_code)


def _related(article: Article) -> list[Article]:
    start = METERED.index(article) if article in METERED else 0
    return [METERED[(start + i) % len(METERED)] for i in range(1, 4)]


def render_article(article: Article, publication: str) -> HTMLResponse:
    body: list[str] = []
    for index, paragraph in enumerate(article.paragraphs):
        if article.subheading is not None and article.subheading[0] == index:
            body.append(f"<h2>{escape(article.subheading[1])}</h2>")
        body.append(f"<p>{escape(paragraph)}</p>")
    kicker = _label(article.access) or f'<p class="kicker">{escape(article.section)}</p>'
    note = ""
    if article.access == "sponsored":
        note = (
            f'<p class="sponsor-note">Paid for by {escape(article.byline)}. Produced by the '
            f"advertiser; the {escape(publication)} newsroom was not involved.</p>"
        )
    main = f"""<article class="article">
{kicker}
<h1>{escape(article.headline)}</h1>
<p class="standfirst">{escape(article.standfirst)}</p>
<p class="byline">{_byline(article)}</p>
{note}<div class="article-body">
{chr(10).join(body)}
</div>
</article>"""
    short = publication.split()[-1] if publication.split() else publication
    links = "".join(
        f'<li><a href="{a.path}">{escape(a.headline)}</a></li>' for a in _related(article)
    )
    footer = (
        f'<section class="more"><h2 class="section-title">More from the {escape(short)}</h2>'
        f"<ul>{links}</ul></section>\n"
    )
    head = (
        f'<meta name="description" content="{escape(article.standfirst)}">\n'
        f'<script type="application/ld+json">\n{json_ld(article, publication)}\n</script>\n'
    )
    return page(publication, f"{article.headline} | {publication}", main, head=head, footer=footer)


def _story_item(article: Article) -> str:
    return (
        f'<li><p class="kicker">{escape(article.section)}</p>'
        f'<h3><a href="{article.path}">{escape(article.headline)}</a></h3>'
        f"<p>{escape(article.standfirst)}</p></li>"
    )


def _promo(article: Article, access: Access) -> str:
    box_id = ' id="premium"' if access == "premium" else ""
    title = "Premium" if access == "premium" else "Partner content"
    return (
        f'<section class="box"{box_id}><h2>{title}</h2>{_label(access)}'
        f'<h3><a href="{article.path}">{escape(article.headline)}</a></h3>'
        f"<p>{escape(article.standfirst)}</p></section>"
    )


def render_home(publication: str) -> HTMLResponse:
    newest = sorted(METERED, key=lambda a: a.published, reverse=True)
    lead = newest[0]
    parts = [
        f"""<section class="lead"><p class="kicker">{escape(lead.section)}</p>
<h2><a href="{lead.path}">{escape(lead.headline)}</a></h2>
<p class="standfirst">{escape(lead.standfirst)}</p>
<p class="byline">{_byline(lead)}</p></section>"""
    ]
    for section in _sections():
        items = "".join(_story_item(a) for a in newest if a.section == section)
        title = f'<h2 class="section-title">{escape(section)}</h2>'
        parts.append(
            f'<section id="{_anchor(section)}">{title}<ul class="story-list">{items}</ul></section>'
        )
    side = [_promo(a, "premium") for a in ARTICLES if a.access == "premium"]
    side.append("""<section class="box demo-box"><h2>Demo accounts</h2>
<p>Read a few articles to watch the meter count down.</p>
<p><a href="/signin">Sign in with a demo account</a> to see what subscribers get.</p>
</section>""")
    side.extend(_promo(a, "sponsored") for a in ARTICLES if a.access == "sponsored")
    side.append("""<section class="box"><h2>Subscribe</h2><p>Unlimited access to every story,
from $12 a month.</p><p><a class="button" href="/subscribe">See plans</a></p></section>""")
    main = f'<div class="home"><div>{"".join(parts)}</div><aside>{"".join(side)}</aside></div>'
    return page(publication, f"{publication}: news from the harbour city", main, home=True)


def render_subscribe(publication: str, offer: str | None, ref: str | None = None) -> HTMLResponse:
    """The plans; each goes on to the demo checkout, carrying the offer's `paywall_ref`."""

    def checkout(plan: str) -> str:
        query = urlencode({"offer": plan, **({"paywall_ref": ref} if ref else {})})
        return escape(f"/checkout?{query}")

    notice = ""
    if offer:
        notice = (
            f'<p class="notice">You chose offer {escape(offer)}. '
            f'<a class="button" href="{checkout(offer)}">Continue to checkout</a></p>'
        )
    cards = []
    for plan_id, name, price, blurb in PLANS:
        chosen = " chosen" if plan_id == offer else ""
        link = f'<a class="button" href="{checkout(plan_id)}">Choose</a>'
        cards.append(
            f'<div class="plan{chosen}"><h2>{escape(name)}</h2><p class="price">{escape(price)}</p>'
            f"<p>{escape(blurb)}</p><p>{link}</p></div>"
        )
    main = f"""<section class="article"><p class="kicker">Subscribe</p>
<h1>Support independent journalism in Amaran</h1>
<p class="standfirst">Unlimited access to {escape(publication)}, on every device.</p>
{notice}<div class="plans">{"".join(cards)}</div>
<p class="colophon">This is a demonstration site: no payment is taken.</p></section>"""
    return page(publication, f"Subscribe | {publication}", main)


def render_not_found(publication: str) -> HTMLResponse:
    main = """<section class="article"><p class="kicker">Error 404</p><h1>Page not found</h1>
<p class="standfirst">We could not find that page. It may have moved, or the link may be wrong.</p>
<p><a href="/">Return to the front page</a></p></section>"""
    return page(publication, f"Page not found | {publication}", main, status_code=404)


def build_site(publication: str = "The Harbour Ledger") -> Starlette:
    """Build the demo newspaper as a Starlette app."""

    def article_route(access: Access) -> Route:
        async def endpoint(request: Request) -> Response:
            article = find(access, str(request.path_params["slug"]))
            if article is None:
                return render_not_found(publication)
            return render_article(article, publication)

        prefix = {"metered": "articles", "sponsored": "sponsored", "premium": "premium"}[access]
        return Route(f"/{prefix}/{{slug}}", endpoint, name=f"{access}-article")

    async def home(request: Request) -> Response:
        return render_home(publication)

    async def subscribe(request: Request) -> Response:
        params = request.query_params
        return render_subscribe(publication, params.get("offer"), params.get("paywall_ref"))

    async def not_found(request: Request, exc: Exception) -> Response:
        return render_not_found(publication)

    routes = [
        Route("/", home, name="home"),
        article_route("metered"),
        article_route("sponsored"),
        article_route("premium"),
        Route("/subscribe", subscribe, name="subscribe"),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})
