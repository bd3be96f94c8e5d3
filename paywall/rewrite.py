"""Rewriting an article page on the tree a browser builds: the prompt and the wall.

The page is parsed by a spec-compliant HTML5 parser (Lexbor), changed in that tree and
serialised again as UTF-8, so what the paywall judged is what the reader's browser
gets. A counted reader's page gets the prompt at the start of the gated element. A
walled reader's keeps the gated content up to the end of its Nth paragraph (headline,
byline and figures before it included), cut further at a word cap, then the prompt;
every other copy of the hidden text in the page (JSON-LD, data blobs in scripts,
attributes, comments, templates, noscript) is removed. Each distinct page is cut once
per kind of view and kept in a cache bounded by memory: a view then costs one join.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from . import jsonld
from .hidden import HiddenText
from .html import Selector, decode_page
from .teaser import children, insert_first, wall

logger = logging.getLogger("paywall")


@dataclass(frozen=True)
class CutOptions:
    """How one kind of view cuts a page."""

    selector: Selector
    walled: bool
    teaser_paragraphs: int
    teaser_max_words: int  # 0: no word cap
    declare_paywall: bool  # add Google's paywalled-content markup


@dataclass(frozen=True)
class Cut:
    """A page as UTF-8 in two pieces: the prompt goes between them."""

    before: bytes
    after: bytes

    def join(self, fragment: str) -> bytes:
        return b"".join((self.before, fragment.encode("utf-8"), self.after))


class PageCuts:
    """Cuts of recently seen pages, least recently used first out, within a byte budget.

    A page is looked up by a cheap fingerprint (its length, a sample of its bytes, the
    type and options), then compared in full: hashing a whole page on every view would cost
    more than the rest of the lookup. Two pages with one fingerprint take turns in its slot.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._cuts: OrderedDict[tuple[int, bytes, str, CutOptions], tuple[bytes, Cut | None]]
        self._cuts = OrderedDict()
        self._size = 0

    def cut(self, data: bytes, content_type: str, options: CutOptions) -> Cut | None:
        """The page cut for `options`, or None when it has no gated element."""
        key = (len(data), data[:: max(len(data) // _SAMPLED_BYTES, 1)], content_type, options)
        entry = self._cuts.get(key)
        if entry is not None and entry[0] == data:
            self._cuts.move_to_end(key)
            return entry[1]
        found = cut_page(data, content_type, options)
        size = _cost(data, found)
        if size <= self.budget // 4:  # a few huge pages must not evict everything else
            if entry is not None:
                self._size -= _cost(*entry)
            self._cuts[key] = (data, found)
            self._cuts.move_to_end(key)
            self._size += size
            while self._size > self.budget:
                _, dropped = self._cuts.popitem(last=False)
                self._size -= _cost(*dropped)
        return found


_SAMPLED_BYTES = 512


def _cost(data: bytes, cut: Cut | None) -> int:
    return len(data) + (len(cut.before) + len(cut.after) if cut else 0)


def cut_page(data: bytes, content_type: str, options: CutOptions) -> Cut | None:
    """The page as `options` says, or None when it has no element matching the selector."""
    # Parsed as a browser that runs scripts does (<noscript> content is text): what is
    # judged gated is then cut from the tree, so no reading of the output shows it.
    tree = LexborHTMLParser(decode_page(data, content_type), scripting=True)
    gates = _gates(tree, options.selector)
    if not gates:
        return None
    marker = "paywall-prompt-" + secrets.token_hex(12)
    hidden = None
    if options.walled:
        hidden = wall(gates, options.teaser_paragraphs, options.teaser_max_words, marker)
        _drop_data_attributes(gates)
        _remove_copies(tree, hidden)
    else:
        insert_first(gates[0], marker)
    if options.walled or options.declare_paywall:
        found_article = _rewrite_json_ld(tree, hidden, options.declare_paywall)
        if options.declare_paywall:
            _declare_paywall(tree, gates, found_article)
    _declare_utf8(tree)
    pieces = (tree.html or "").split(marker)
    if len(pieces) != 2:
        logger.warning("paywall: the prompt's place in a page is ambiguous; not rewritten")
        return None
    before, after = (piece.encode("utf-8", "surrogateescape") for piece in pieces)
    return Cut(before, after)


def _gates(tree: LexborHTMLParser, selector: Selector) -> list[LexborNode]:
    """Every element matching the selector that a browser renders, outermost only: in the
    document, then in declarative shadow roots (an empty match in the light DOM must not
    leave the story in a shadow root ungated); inert <template> contents are skipped."""
    found = _outermost(tree.css(selector.text))
    for fragment in _shadow_roots(tree.root):
        found.extend(_outermost(fragment.css(selector.text)))
    return found


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    kept: list[LexborNode] = []
    ids = set()
    for node in nodes:
        ancestor = node.parent
        while ancestor is not None and ancestor.mem_id not in ids:
            ancestor = ancestor.parent
        if ancestor is None:
            kept.append(node)
        ids.add(node.mem_id)
    return kept


def _shadow_roots(root: LexborNode | None) -> Iterator[LexborNode]:
    if root is None:
        return
    for fragment in root.template_fragments():
        template = fragment.parent
        if template is not None and "shadowrootmode" in template.attributes:
            yield fragment
            yield from _shadow_roots(fragment)


def _plain_text_of(node: LexborNode) -> str:
    return (node.text_content if node.is_text_node else node.comment_content) or ""


def _drop_data_attributes(gates: list[LexborNode]) -> None:
    """data-* on the gated element is a common place to park a copy of the article."""
    for gate in gates:
        for name in [name for name in gate.attributes if name.startswith("data-")]:
            del gate.attrs[name]


def _all_nodes(root: LexborNode | None) -> Iterator[LexborNode]:
    """Every node of the document, template contents (at any depth) included."""
    if root is None:
        return
    yield from root.traverse(include_text=True)
    for fragment in root.template_fragments():
        yield from _all_nodes_of_fragment(fragment)


def _all_nodes_of_fragment(fragment: LexborNode) -> Iterator[LexborNode]:
    for child in list(children(fragment)):
        yield from _all_nodes(child)


def _remove_copies(tree: LexborHTMLParser, hidden: HiddenText) -> None:
    """Remove every text, comment and attribute value that holds a copy of hidden text."""
    if not hidden:
        return
    texts: list[LexborNode] = []
    for node in _all_nodes(tree.root):
        if node.is_text_node or node.is_comment_node:
            parent = node.parent
            if parent is not None and parent.tag == "script" and _is_json_ld(parent):
                continue  # rewritten as JSON below, then checked again
            texts.append(node)
        elif node.is_element_node:
            for name, value in list(node.attributes.items()):
                if value and hidden.found_in(value):
                    del node.attrs[name]
    # Read in document order as one stream, so a copy cut up by markup is still found.
    doomed = hidden.pieces_holding([_plain_text_of(node) for node in texts])
    for index in sorted(doomed):
        texts[index].decompose()


def _is_json_ld(script: LexborNode) -> bool:
    return "ld+json" in (script.attributes.get("type") or "").lower()


def _rewrite_json_ld(tree: LexborHTMLParser, hidden: HiddenText | None, mark: bool) -> bool:
    """Rewrite every JSON-LD block: on a walled page (`hidden` given) without the article
    text, and a block that still holds hidden text or can't be read goes; with `mark`,
    the paywall declared. True when a block describes an article."""
    hide = hidden is not None
    found_article = False
    scripts = [node for node in _all_nodes(tree.root) if node.tag == "script" and _is_json_ld(node)]
    for script in scripts:
        raw = script.text(deep=True)
        try:
            value, found = jsonld.rewrite_block(raw, hide_text=hide, mark=mark)
        except jsonld.Unreadable:
            if hide:
                script.decompose()
            continue
        found_article |= found
        text = raw if value is None else _json_for_script(value)
        if hidden is not None and hidden.found_in(text):
            script.decompose()
        elif value is not None:
            _set_script_text(script, text)
    return found_article


def _set_script_text(script: LexborNode, text: str) -> None:
    for child in list(children(script)):
        child.decompose()
    script.insert_child(text)


def _json_for_script(value: Any) -> str:
    """JSON that can't end or comment out its <script>."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<!--", "\\u003c!--").replace("</", "<\\/")


def _declare_paywall(tree: LexborHTMLParser, gates: list[LexborNode], found_article: bool) -> None:
    """Google's paywalled-content markup: the gated elements carry the class the JSON-LD
    names as not free; a page without article JSON-LD gets a block of its own."""
    for gate in gates:
        classes = (gate.attributes.get("class") or "").split()
        if jsonld.GATED_CLASS not in classes:
            gate.attrs["class"] = " ".join([*classes, jsonld.GATED_CLASS])
    if found_article:
        return
    block = LexborHTMLParser(
        '<script type="application/ld+json">'
        + html.escape(_json_for_script(jsonld.paywall_block()), quote=False)
        + "</script>"
    ).css_first("script")
    target = tree.head or tree.body
    if block is not None and target is not None:
        _set_script_text(block, _json_for_script(jsonld.paywall_block()))
        target.insert_child(block)


def _declare_utf8(tree: LexborHTMLParser) -> None:
    """The page is sent as UTF-8: say so where the page names its charset."""
    for meta in tree.css("meta[charset]"):
        meta.attrs["charset"] = "utf-8"
    for meta in tree.css("meta[http-equiv]"):
        if (meta.attributes.get("http-equiv") or "").lower() == "content-type":
            meta.attrs["content"] = "text/html; charset=utf-8"


def standalone_page(fragment: str, title: str) -> bytes:
    """A minimal page holding only the prompt, for when the article can't be located safely."""
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{fragment}\n</body></html>\n"
    ).encode()
