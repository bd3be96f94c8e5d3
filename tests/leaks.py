"""What a reader can reach in a page, as an independent HTML5 parser (html5lib) builds it.

The leak rule the paywall promises (README, "Readers who try to read for free"): a
*copy* of hidden text is any run of 8 consecutive words of it, compared case-
insensitively with punctuation ignored. Runs of 7 words or fewer are not recognised
as copies, so a script or attribute that merely shares a phrase or a common word with
the article ("subscription", "old harbour") is not one.

`leaked_runs` looks for such runs everywhere a reader (or a script of theirs) can get
at: every text node, every attribute value, comments, the doctype, the raw text of
script/style/noscript/textarea/xmp/title, template contents (declarative shadow roots
included, html5lib keeps them as template children), under both readings a browser
may make of <noscript> (scripts on and off); and inside those strings what a script
could decode: HTML entities, JavaScript/JSON string escapes, percent-encoding, base64
runs of 60 or more characters, and markup (srcdoc, document.write, \\u003cp\\u003e…),
which is parsed again.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus
from xml.etree import ElementTree as ET

import html5lib

RUN = 8  # words: the shortest copy the paywall promises to recognise
_WORD = re.compile(r"\w+")
_TREE = html5lib.getTreeBuilder("etree", fullTree=True)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{60,}={0,2}")
_JS_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.S)
_JS_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": " ", "f": " ", "v": " ", "0": " "}
# Elements whose content a browser does not render as page text (with scripts on).
_NOT_RENDERED = frozenset({"script", "style", "template", "noscript", "noembed", "noframes"})

Element = ET.Element
Words = tuple[str, ...]


# -- words and runs ----------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped: the unit the leak rule counts."""
    return _WORD.findall(text.casefold())


def runs(text: str) -> set[Words]:
    """Every run of RUN consecutive words in `text`."""
    found = words(text)
    return {tuple(found[i : i + RUN]) for i in range(len(found) - RUN + 1)}


def has_words(haystack: str, needle: str) -> bool:
    """Whether `needle`'s words occur, in order and adjacent, among `haystack`'s."""
    return f" {' '.join(words(needle))} " in f" {' '.join(words(haystack))} "


# -- parsing -----------------------------------------------------------------------------


def charset_of(content_type: str) -> str | None:
    found = _CHARSET.search(content_type)
    return found.group(1) if found else None


def parse(page: bytes | str, content_type: str = "", *, scripting: bool = True) -> Element:
    """The document a browser builds: bytes are decoded as browsers do (a BOM first, then
    the Content-Type charset, then <meta charset>, then windows-1252)."""
    parser = html5lib.HTMLParser(tree=_TREE, namespaceHTMLElements=False)
    kwargs: dict[str, Any] = {"scripting": scripting}
    if isinstance(page, bytes):
        kwargs["useChardet"] = False
        charset = charset_of(content_type)
        if charset:
            kwargs["transport_encoding"] = charset
    root: Element = parser.parse(page, **kwargs)
    return root


def local_name(element: Element) -> str:
    """'svg', 'title', 'div'… without html5lib's namespace prefix; '' for comments."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def is_comment(element: Element) -> bool:
    tag: Any = element.tag
    return tag is ET.Comment


def is_rendered(element: Element) -> bool:
    """An element whose content a browser renders (scripts on): not a comment, script,
    style, noscript or inert template; a declarative shadow root is rendered."""
    name = local_name(element)
    if not name or name == "<!DOCTYPE>":
        return False
    return name not in _NOT_RENDERED or (name == "template" and "shadowrootmode" in element.attrib)


def is_html(element: Element) -> bool:
    return isinstance(element.tag, str) and not element.tag.startswith("{")


def parents(root: Element) -> dict[Element, Element]:
    return {child: parent for parent in root.iter() for child in parent}


def ancestors(element: Element, parent_of: dict[Element, Element]) -> Iterator[Element]:
    while element in parent_of:
        element = parent_of[element]
        yield element


def inside_inert_template(element: Element, parent_of: dict[Element, Element]) -> bool:
    """In the content of a <template> that is not a declarative shadow root."""
    return any(
        local_name(up) == "template" and is_html(up) and "shadowrootmode" not in up.attrib
        for up in ancestors(element, parent_of)
    )


def matcher(selector: str) -> Callable[[Element], bool]:
    """A test for the simple selectors these tests use: tag, .class, tag.class, #id."""
    found = re.fullmatch(r"([a-z][a-z0-9]*)?((?:[.#][\w-]+)*)", selector)
    assert found, selector
    tag = found.group(1)
    parts = re.findall(r"([.#])([\w-]+)", found.group(2))

    def matches(element: Element) -> bool:
        if not is_html(element) or (tag and element.tag != tag):
            return False
        classes = element.get("class", "").split()
        for kind, name in parts:
            if (kind == "." and name not in classes) or (kind == "#" and element.get("id") != name):
                return False
        return True

    return matches


# -- what a reader can reach ---------------------------------------------------------------


def _walk_text(element: Element) -> Iterator[str]:
    for child in element:
        if isinstance(child.tag, str) and child.tag != "<!DOCTYPE>" and child.text:
            yield child.text
        yield from _walk_text(child)
        if child.tail:
            yield child.tail


def places(root: Element) -> Iterator[tuple[str, str]]:
    """(where, string) for every text-bearing place in the tree."""
    yield "document text", " ".join(_walk_text(root))
    for element in root.iter():
        name = local_name(element)
        if is_comment(element):
            yield "comment", element.text or ""
            continue
        if name == "<!DOCTYPE>":
            yield "doctype", " ".join([element.text or "", *element.attrib.values()])
            continue
        text = element.text or ""
        if any(mark in text for mark in "<&\\%") or _BASE64.search(text):
            yield f"<{name}> text", text
        for attribute, value in element.attrib.items():
            yield f"<{name} {attribute}>", value


def _js_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape.startswith("u{"):
            return chr(min(int(escape[2:-1], 16), 0x10FFFF))
        if escape[0] == "u" and len(escape) == 5:
            return chr(int(escape[1:], 16))
        if escape[0] == "x" and len(escape) == 3:
            return chr(int(escape[1:], 16))
        return _JS_SIMPLE.get(escape, escape)

    decoded = _JS_ESCAPE.sub(one, text)
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _base64_texts(text: str) -> Iterator[str]:
    for match in _BASE64.finditer(text):
        run = match.group(0)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = decode(run + "=" * (-len(run.rstrip("=")) % 4))
                yield raw.decode("utf-8")
                break
            except (binascii.Error, ValueError):
                continue


def expansions(text: str, depth: int = 4) -> Iterator[str]:
    """`text` and what a script could decode from it."""
    yield text
    if depth == 0:
        return
    decoded: list[str] = []
    if "&" in text:
        decoded.append(html.unescape(text))
    if "\\" in text:
        decoded.append(_js_unescape(text))
    if "%" in text:
        decoded.append(unquote_plus(text))
    decoded.extend(_base64_texts(text))
    for other in decoded:
        if other != text:
            yield from expansions(other, depth - 1)
    if "<" in text:
        for _where, inner in places(parse(text)):
            yield from expansions(inner, depth - 1)


@dataclass
class Reachable:
    """The runs of words reachable in a page, with where each was first seen."""

    where: dict[Words, str] = field(default_factory=dict)

    def add(self, root: Element, reading: str) -> None:
        for where, text in places(root):
            for expanded in expansions(text):
                for run in runs(expanded):
                    self.where.setdefault(run, f"{where} ({reading})")


def reachable(page: bytes | str, content_type: str = "") -> Reachable:
    """Everything reachable in the page, read with scripts on and with scripts off."""
    found = Reachable()
    for scripting in (True, False):
        found.add(parse(page, content_type, scripting=scripting), f"scripting={scripting}")
    return found


def leaked_runs(
    page: bytes | str, hidden: list[str], allowed: list[str], content_type: str = ""
) -> list[str]:
    """Each run of 8 words of `hidden` reachable in `page`, described; runs that also occur
    in `allowed` (the teaser, the prompt) are not copies."""
    secret: set[Words] = set()
    for text in hidden:
        secret |= runs(text)
    for text in allowed:
        secret -= runs(text)
    found = reachable(page, content_type)
    return sorted(
        f"{' '.join(run)!r} in {found.where[run]}" for run in secret if run in found.where
    )


# -- what a reader sees ----------------------------------------------------------------------


def visible_text(root: Element) -> str:
    """The page's rendered text (scripts on): no script/style/template/noscript content,
    no comments, no attributes."""
    pieces: list[str] = []

    def walk(element: Element) -> None:
        for child in element:
            if is_rendered(child):
                if child.text:
                    pieces.append(child.text)
                walk(child)
            if child.tail:
                pieces.append(child.tail)

    walk(root)
    return " ".join(pieces)


def prompts(root: Element, kind: str) -> list[Element]:
    """Elements with data-paywall=`kind` that a browser renders (not in an inert template)."""
    parent_of = parents(root)
    return [
        element
        for element in root.iter()
        if isinstance(element.tag, str)
        and element.get("data-paywall") == kind
        and not inside_inert_template(element, parent_of)
    ]


def position(root: Element, element: Element) -> int:
    """`element`'s index in document order."""
    for index, other in enumerate(root.iter()):
        if other is element:
            return index
    raise ValueError("not in this tree")


def text_position(root: Element, text: str) -> int | None:
    """The document-order index of the first rendered element whose own text holds `text`'s
    words (the element holding the start of a paragraph)."""
    parent_of = parents(root)
    for index, element in enumerate(root.iter()):
        if not isinstance(element.tag, str) or inside_inert_template(element, parent_of):
            continue
        own = " ".join([element.text or "", *(child.tail or "" for child in element)])
        if has_words(own, " ".join(words(text)[:RUN])):
            return index
    return None


# -- where a browser puts the cut ------------------------------------------------------------


@dataclass
class Cut:
    """The gated content as the specification cuts it, on the tree a browser builds."""

    teaser: str  # rendered text of the gated content up to the cut
    hidden: str  # rendered text of the gated content after it
    paragraphs: list[str]  # rendered text of each <p> in the gated content


def model_cut(root: Element, selector: str, paragraphs: int, max_words: int) -> Cut:
    """All elements matching `selector` outside inert templates are gated; the teaser is
    their content in document order up to the end of the `paragraphs`-th <p>, further
    capped at `max_words` words (split on white space)."""
    cutter = _Cutter(root, selector, paragraphs)
    cutter.visit(root)
    teaser_words = " ".join(cutter.teaser).split()
    hidden = cutter.hidden
    if max_words and len(teaser_words) > max_words:
        hidden.insert(0, " ".join(teaser_words[max_words:]))
        teaser_words = teaser_words[:max_words]
    return Cut(" ".join(teaser_words), " ".join(hidden), cutter.found)


class _Cutter:
    """The walk of `model_cut`: text goes to the teaser until `paragraphs` <p> have ended."""

    def __init__(self, root: Element, selector: str, paragraphs: int) -> None:
        self.gated = matcher(selector)
        self.parent_of = parents(root)
        self.paragraphs = paragraphs
        self.teaser: list[str] = []
        self.hidden: list[str] = []
        self.found: list[str] = []  # rendered text of each gated <p>
        self.count = 0  # gated <p> ended so far

    def emit(self, text: str | None) -> None:
        if text:
            (self.teaser if self.count < self.paragraphs else self.hidden).append(text)

    def walk(self, element: Element) -> None:
        """Inside gated content: every rendered piece of text, counting paragraphs."""
        for child in element:
            if is_rendered(child):
                paragraph = local_name(child) == "p" and is_html(child)
                if paragraph:
                    self.found.append(" ".join(_rendered(child)))
                self.emit(child.text)
                self.walk(child)
                if paragraph:
                    self.count += 1
            self.emit(child.tail)

    def visit(self, element: Element) -> None:
        """Outside gated content: look for it, not inside inert templates."""
        for child in element:
            if self.gated(child) and not inside_inert_template(child, self.parent_of):
                self.emit(child.text)
                self.walk(child)
            elif isinstance(child.tag, str) and not (
                local_name(child) == "template" and "shadowrootmode" not in child.attrib
            ):
                self.visit(child)


def _rendered(element: Element) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        if is_rendered(child):
            yield from _rendered(child)
        if child.tail:
            yield child.tail
