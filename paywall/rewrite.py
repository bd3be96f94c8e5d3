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
from .hidden import HiddenText, cut_after_words, strip_markup, word_count
from .html import Selector, decode_page

logger = logging.getLogger("paywall")

# Elements whose text a reader never sees as prose: not counted toward the teaser.
_NOT_PROSE = frozenset({"script", "style", "template", "noscript", "textarea"})


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
    """Cuts of recently seen pages, least recently used first out, within a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._cuts: OrderedDict[tuple[bytes, str, CutOptions], Cut | None] = OrderedDict()
        self._size = 0

    def cut(self, data: bytes, content_type: str, options: CutOptions) -> Cut | None:
        """The page cut for `options`, or None when it has no gated element."""
        key = (data, content_type, options)
        try:
            found = self._cuts[key]
        except KeyError:
            pass
        else:
            self._cuts.move_to_end(key)
            return found
        found = cut_page(data, content_type, options)
        size = _cost(data, found)
        if size <= self.budget // 4:  # a few huge pages must not evict everything else
            self._cuts[key] = found
            self._size += size
            while self._size > self.budget:
                (old, _, _), dropped = self._cuts.popitem(last=False)
                self._size -= _cost(old, dropped)
        return found


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
        hidden = _wall(gates, options.teaser_paragraphs, options.teaser_max_words, marker)
        _drop_data_attributes(gates)
        _remove_copies(tree, hidden)
    else:
        _insert_first(gates[0], marker)
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


class _Teaser:
    """Walks the gated elements in reading order, keeping content until the cut."""

    def __init__(self, paragraphs: int, max_words: int) -> None:
        self.paragraphs_left = paragraphs
        self.words_left = max_words if max_words > 0 else None
        self.cut_at: LexborNode | None = None
        self.done = paragraphs <= 0
        self.hidden: list[str] = []  # pieces of hidden text, each searched on its own
        self.prose: list[str] = []  # the hidden prose, in order: one piece when done
        self.shown: list[str] = []  # the teaser's prose, as the reader sees it
        self.prose_since_end = False  # text since the last paragraph ended
        self.ended_by_blank_line = False  # that end was a <br><br>, not a </p>

    def walk(self, node: LexborNode, prose: bool = True) -> None:
        after_br = False
        for child in list(_children(node)):
            if self.done:
                self.cut_away(child, prose)
            elif child.is_text_node:
                if prose:
                    self.text(child)
                    after_br = after_br and not (child.text_content or "").strip()
                elif _stash(node):  # a noscript fallback, a JSON island: never the teaser
                    self.hidden.append(strip_markup(child.text_content or ""))
            elif child.is_element_node:
                self.element(child, prose)
                # A <p>, or a blank line made of <br><br> after some text, ends a paragraph.
                blank_line = child.tag == "br" and after_br and self.prose_since_end
                if prose and (child.tag == "p" or blank_line):
                    self.paragraph_ends(child, blank_line)
                after_br = child.tag == "br" and not after_br

    def element(self, element: LexborNode, prose: bool) -> None:
        """Walk into an element before the cut. Its data- props and srcdoc, and the content
        of a template, can carry the article: hidden unless the teaser shows the words."""
        self.hidden.extend(_attribute_texts(element, kept=True))
        if element.tag == "template":  # lazily stamped "continue reading" content
            contents = element.template_fragments()[:1]
            self.hidden.extend(fragment.text(deep=True, separator=" ") for fragment in contents)
            if "shadowrootmode" in element.attributes:  # rendered, not inert
                for shadow_root in contents:
                    self.walk(shadow_root, prose)
                return
        self.walk(element, prose and element.tag not in _NOT_PROSE)

    def cut_away(self, node: LexborNode, prose: bool) -> None:
        """Remove `node`, after the cut; its prose joins the hidden prose, and what a reader
        is not shown as prose (scripts, templates, text-bearing attributes) is kept apart,
        so that page furniture's markup never makes runs with the article's words."""
        if node.is_text_node:
            (self.prose if prose else self.hidden).append(node.text_content or "")
        elif node.is_element_node:
            joined, apart = _texts(node, prose)
            self.prose.append(joined)
            self.hidden.extend(apart)
            self.hidden.extend(_attribute_texts(node, kept=False))
        node.decompose()

    def hidden_text(self) -> HiddenText:
        return HiddenText([*self.hidden, " ".join(self.prose)], self.shown)

    def paragraph_ends(self, node: LexborNode, blank_line: bool) -> None:
        if not blank_line and self.ended_by_blank_line and not self.prose_since_end:
            return  # <p>one<br><br></p>: the blank line already ended this paragraph
        self.prose_since_end, self.ended_by_blank_line = False, blank_line
        if not self.done:
            self.paragraphs_left -= 1
            if self.paragraphs_left <= 0:
                self.done, self.cut_at = True, node

    def text(self, node: LexborNode) -> None:
        text = node.text_content or ""
        self.prose_since_end |= bool(text.strip())
        words = word_count(text)
        if self.words_left is None or words <= self.words_left:
            self.shown.append(text)
            if self.words_left is not None:
                self.words_left -= words
            return
        kept, rest = cut_after_words(text, self.words_left)
        self.shown.append(kept)
        self.prose.append(rest)
        node.replace_with(kept + "…") if kept.strip() else node.decompose()
        self.done = True


def _wall(gates: list[LexborNode], paragraphs: int, max_words: int, marker: str) -> HiddenText:
    """Cut the gated elements after the teaser and put `marker` where the prompt goes;
    returns the text that was cut, to recognise its copies elsewhere."""
    teaser = _Teaser(paragraphs, max_words)
    prompt_gate = gates[0]
    if teaser.done:  # no teaser: every gated element emptied, the prompt in the first
        for gate in gates:
            teaser.walk(gate)
        _insert_first(prompt_gate, marker)
        return teaser.hidden_text()
    for gate in gates:
        if not teaser.done:
            prompt_gate = gate
            teaser.walk(gate)
            if teaser.done and teaser.cut_at is None:  # cut inside a text node
                _insert_last(gate, marker)
            elif teaser.done:
                _insert_after_in(gate, teaser.cut_at, marker)
        else:
            teaser.walk(gate)
    if not teaser.done:  # shorter than the teaser: all of it shows, then the prompt
        _insert_last(prompt_gate, marker)
    return teaser.hidden_text()


def _insert_first(parent: LexborNode, marker: str) -> None:
    first = parent.first_child
    if first is None:
        parent.insert_child(marker)
    else:
        first.insert_before(marker)


def _insert_last(parent: LexborNode, marker: str) -> None:
    parent.insert_child(marker)


def _insert_after_in(gate: LexborNode, node: LexborNode | None, marker: str) -> None:
    """After the child of `gate` (or of the shadow root in it) that holds `node`: the
    prompt sits at the gate's own level, never inside a paragraph."""
    while (
        node is not None
        and node.parent is not None
        and node.parent.is_element_node
        and node.parent.mem_id != gate.mem_id
    ):
        node = node.parent
    if node is None or node.parent is None:
        _insert_last(gate, marker)
    else:
        node.insert_after(marker)


def _children(node: LexborNode) -> Iterator[LexborNode]:
    child = node.first_child
    while child is not None:
        yield child
        child = child.next


_LONG_ENOUGH = 40  # characters: anything shorter holds fewer than 8 words
# Attributes that hold words a reader may read (not URLs, classes or styles).
_TEXT_ATTRIBUTES = frozenset(
    {"alt", "title", "aria-label", "aria-description", "placeholder", "label", "value", "content"}
)
# <script> types that hold data, not code: where a page stashes the article for later.
_DATA_SCRIPT = ("json", "template", "text/x-", "text/html", "text/plain")


def _attribute_texts(node: LexborNode, *, kept: bool) -> list[str]:
    """Attribute values that could hold article text: data- props and srcdoc (on a kept
    element, only those), and alt, title, aria-label and the like (on a removed subtree)."""
    nodes = [node] if kept else node.traverse()
    found = []
    for element in nodes:
        if not element.is_element_node:
            continue
        for name, value in element.attributes.items():
            if not value or len(value) < _LONG_ENOUGH:
                continue
            if name.startswith("data-") or name == "srcdoc":
                found.append(strip_markup(value))
            elif not kept and name in _TEXT_ATTRIBUTES:
                found.append(value)
    return found


def _stash(element: LexborNode) -> bool:
    """Does this non-prose element hold text for later (not code a browser runs)?"""
    if element.tag in ("noscript", "textarea", "template", "xmp"):
        return True
    if element.tag == "script":
        kind = (element.attributes.get("type") or "").lower()
        return any(marker in kind for marker in _DATA_SCRIPT)
    return False


def _texts(node: LexborNode, prose: bool) -> tuple[str, list[str]]:
    """The prose text of a subtree, and, apart, the text of what in it is not prose."""
    joined: list[str] = []
    apart: list[str] = []
    for text in node.traverse(include_text=True):
        if not text.is_text_node:
            continue
        parent, in_prose = text.parent, prose
        while parent is not None and in_prose and parent.mem_id != node.mem_id:
            in_prose = parent.tag not in _NOT_PROSE
            parent = parent.parent
        if in_prose and node.tag not in _NOT_PROSE:
            joined.append(text.text_content or "")
        else:
            apart.append(strip_markup(text.text_content or ""))
    apart.extend(f.text(deep=True, separator=" ") for f in node.template_fragments())
    if joined:  # words split by markup (<wbr>, a span mid-word) read both ways
        apart.append(node.text(deep=True, separator=""))
    return " ".join(joined), apart


def _text_of(node: LexborNode) -> str:
    if node.is_text_node:
        return node.text_content or ""
    if node.is_comment_node:
        return node.comment_content or ""
    # Both readings: words split by markup (<wbr>, a span mid-word) join up without spaces.
    parts = [node.text(deep=True, separator=" "), node.text(deep=True, separator="")]
    parts.extend(fragment.text(deep=True, separator=" ") for fragment in node.template_fragments())
    return " \n ".join(parts)


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
    for child in list(_children(fragment)):
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
    for child in list(_children(script)):
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
