"""ResponseHeaders: the upstream's headers read once, and what goes out."""

from __future__ import annotations

from paywall.headers import ResponseHeaders


def out(headers: ResponseHeaders) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for name, value in headers.raw():
        found.setdefault(name, []).append(value)
    return found


def test_names_are_read_case_insensitively_and_x_paywall_never_goes_out() -> None:
    headers = ResponseHeaders(
        [(b"Content-Type", b"text/html"), (b"X-Paywall", b"premium"), (b"X-Other", b"1")]
    )
    assert headers.get(b"content-type") == "text/html"
    assert headers.override == "premium"
    assert out(headers) == {b"content-type": [b"text/html"], b"x-other": [b"1"]}


def test_untouched_headers_go_out_as_they_came_in_all_but_order() -> None:
    raw = [
        (b"set-cookie", b"a=1"),
        (b"content-type", b"text/html"),
        (b"etag", b'"v1"'),
        (b"set-cookie", b"b=2"),
        (b"cache-control", b"max-age=60"),
        (b"last-modified", b"Tue, 01 Dec 2026 00:00:00 GMT"),
    ]
    assert sorted(ResponseHeaders(raw).raw()) == sorted(raw)


def test_personalised_response_is_private_varies_by_cookie_and_has_no_validators() -> None:
    headers = ResponseHeaders(
        [
            (b"cache-control", b"public, max-age=600"),
            (b"vary", b"Accept-Language"),
            (b"etag", b'"v1"'),
            (b"last-modified", b"Tue, 01 Dec 2026 00:00:00 GMT"),
        ]
    )
    headers.personalise()
    headers.cookies.append(b"paywall_rid=x; Path=/")
    sent = out(headers)
    assert sent[b"cache-control"] == [b"private, no-cache"]
    assert sent[b"vary"] == [b"Accept-Language, Cookie"]
    assert b"etag" not in sent and b"last-modified" not in sent
    assert sent[b"set-cookie"] == [b"paywall_rid=x; Path=/"]


def test_no_store_is_kept_and_cookie_is_not_added_to_vary_twice() -> None:
    headers = ResponseHeaders([(b"cache-control", b"No-Store"), (b"vary", b"cookie")])
    headers.personalise()
    assert out(headers)[b"cache-control"] == [b"private, no-cache, no-store"]
    assert out(headers)[b"vary"] == [b"cookie"]


def test_repeated_cache_control_and_vary_are_read_as_one_list() -> None:
    headers = ResponseHeaders(
        [
            (b"cache-control", b"max-age=60"),
            (b"cache-control", b"no-store"),
            (b"vary", b"Accept"),
            (b"vary", b"Cookie"),
        ]
    )
    headers.personalise()
    sent = out(headers)
    assert sent[b"cache-control"] == [b"private, no-cache, no-store"]
    assert sent[b"vary"] == [b"Accept, Cookie"]


def test_set_and_remove_named_headers() -> None:
    headers = ResponseHeaders([(b"content-length", b"10"), (b"content-encoding", b"gzip")])
    headers.set(b"content-encoding", None)
    headers.set(b"content-length", "42")
    headers.set(b"content-type", "text/html; charset=utf-8")
    assert out(headers) == {
        b"content-length": [b"42"],
        b"content-type": [b"text/html; charset=utf-8"],
    }
