"""Cutting the gated elements after the teaser, and collecting the text that was cut.

The teaser is the gated content, in reading order, up to the end of the Nth paragraph (a
`<p>`, or a blank line of `<br><br>`), or fewer words if `teaser_max_words` comes first.
What is cut, and what inside the gate a reader is not shown as prose (a stashed template,
a noscript fallback, data- props), becomes the `HiddenText` whose copies are then removed
from the rest of the page (rewrite.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from selectolax.lexbor import LexborNode

from .hidden import HiddenText, cut_after_words, strip_markup, word_count

# Elements whose text a reader never sees as prose: not counted toward the teaser.
_NOT_PROSE = frozenset({"script", "style", "template", "noscript", "textarea"})


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
        for child in list(children(node)):
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


def wall(gates: list[LexborNode], paragraphs: int, max_words: int, marker: str) -> HiddenText:
    """Cut the gated elements after the teaser and put `marker` where the prompt goes;
    returns the text that was cut, to recognise its copies elsewhere."""
    teaser = _Teaser(paragraphs, max_words)
    prompt_gate = gates[0]
    if teaser.done:  # no teaser: every gated element emptied, the prompt in the first
        for gate in gates:
            teaser.walk(gate)
        insert_first(prompt_gate, marker)
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


def insert_first(parent: LexborNode, marker: str) -> None:
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


def children(node: LexborNode) -> Iterator[LexborNode]:
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


def _not_prose_holder(text: LexborNode, top: LexborNode) -> LexborNode | None:
    """The nearest element up to `top` (itself included) whose text is not prose."""
    parent = text.parent
    while parent is not None:
        if parent.tag in _NOT_PROSE:
            return parent
        if parent.mem_id == top.mem_id:
            return None
        parent = parent.parent
    return None


def _texts(node: LexborNode, prose: bool) -> tuple[str, list[str]]:
    """The prose text of a subtree, and, apart, the text of what in it is not prose."""
    joined: list[str] = []
    apart: list[str] = []
    for text in node.traverse(include_text=True):
        if not text.is_text_node:
            continue
        holder = _not_prose_holder(text, node)
        if holder is None and prose:
            joined.append(text.text_content or "")
        elif holder is None or _stash(holder):  # code a browser runs is no article text
            apart.append(strip_markup(text.text_content or ""))
    apart.extend(f.text(deep=True, separator=" ") for f in node.template_fragments())
    if joined:  # words split by markup (<wbr>, a span mid-word) read both ways
        apart.append(node.text(deep=True, separator=""))
    return " ".join(joined), apart
