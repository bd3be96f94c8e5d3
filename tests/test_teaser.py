"""teaser.py: the gated elements cut after the teaser, and the text that was cut."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from paywall.teaser import wall

MARK = "PROMPT-GOES-HERE"
HIDDEN = "the third paragraph tells the part of the story a walled reader never gets"


def walled(body: str, paragraphs: int = 2, words: int = 120) -> tuple[str, bool]:
    tree = LexborHTMLParser(f"<article>{body}</article>", scripting=True)
    gates = tree.css("article")
    hidden = wall(gates, paragraphs, words, MARK)
    return gates[0].html or "", hidden.found_in(HIDDEN)


def test_the_cut_comes_after_the_nth_paragraph_and_the_prompt_after_it() -> None:
    html, found = walled(f"<h1>Head</h1><p>one</p><p>two</p><p>{HIDDEN}</p>")
    assert html == f"<article><h1>Head</h1><p>one</p><p>two</p>{MARK}</article>"
    assert found  # the cut text is what copies are looked for


def test_a_noscript_fallback_before_the_cut_is_hidden_text() -> None:
    html, found = walled(f"<p>one</p><noscript><p>{HIDDEN}</p></noscript><p>two</p>")
    assert found and "one" in html and MARK in html


def test_an_executable_script_in_the_teaser_is_not_hidden_text() -> None:
    _, found = walled(f"<p>one</p><script>var note = '{HIDDEN}';</script><p>two</p><p>x</p>")
    assert not found  # code is not article text: only its copies of cut words count


def test_the_word_cap_cuts_inside_a_paragraph() -> None:
    html, _ = walled("<p>" + " ".join(f"w{n}" for n in range(50)) + "</p>", words=10)
    assert "w9…" in html and "w10" not in html
