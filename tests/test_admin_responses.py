"""The dashboard's answers: the shipped files, the headers, the data island, forms."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import MutableMapping
from typing import Any

import pytest

from paywall.admin import responses

pytestmark = pytest.mark.anyio


def test_the_vendored_chart_library_is_shipped_with_its_licence_and_version() -> None:
    library = responses.static("uPlot.iife.min.js").decode()
    assert library.startswith(f"/*! https://github.com/leeoniya/uPlot (v{responses.UPLOT_VERSION})")
    assert "MIT License" in responses.static("uPlot.LICENSE").decode()
    for name in responses.STATIC_TYPES:
        assert responses.static(name), name
    # Nothing from elsewhere at run time: the pages name only the dashboard's own files.
    layout = responses.template("layout.html").template
    assert not re.search(r"(src|href)=\"(https?:)?//", layout)


def test_the_login_pages_inline_style_is_allowed_by_its_hash_only() -> None:
    css, source = responses.login_style()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert source == f"'sha256-{digest}'"
    policy = responses.policy(source).decode()
    assert f"style-src {source};" in policy and "unsafe-inline" not in policy


def test_the_data_island_cannot_close_its_script_element() -> None:
    value = {"label": "</script><script>alert(1)</script> & <!--"}
    text = responses.data_island(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value
    with pytest.raises(ValueError):
        responses.data_island({"n": float("nan")})


async def form_of(chunks: list[bytes]) -> dict[str, str] | None:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return await responses.read_form(receive)


async def test_forms_are_read_whole_and_bounded() -> None:
    assert await form_of([b"token=a%20b&next=", b"&token=second"]) == {"token": "a b", "next": ""}
    assert await form_of([b"x=" + b"a" * responses.MAX_FORM_BYTES]) is None


async def test_a_response_carries_the_security_headers() -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await responses.respond(send, 200, b"hello", head=True)
    headers = dict(sent[0]["headers"])
    assert headers[b"content-length"] == b"5" and sent[1]["body"] == b""
    assert headers[b"cache-control"] == b"private, no-store"
    assert headers[b"cross-origin-opener-policy"] == b"same-origin"
