"""Gift links: a subscriber's signed link that opens one article to anyone for a few days.

A link is the article's URL with `?gift=TOKEN`. The token holds when it expires and a digest
of the article's id (`routing.article_key`, what the meter counts), signed with the cookie
keys under a salt of its own: no account, no reader id, nothing personal in a shared URL.
A view whose token checks out for its own article reads it in full, uncounted (metering.py);
any other token is ignored and the view metered as usual.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from urllib.parse import parse_qsl

from ..signing import CookieSigner

GIFT_PARAMETER = "gift"
GIFT_PATH = "/gift"  # under endpoints.prefix: where the gift control posts
_NEEDLE = (GIFT_PARAMETER + "=").encode()
_DIGEST_BYTES = 8
_PAYLOAD_BYTES = 4 + _DIGEST_BYTES  # expiry (unix seconds, 32 bits) + the article's digest
_MAX_TOKEN = 128


class GiftTokens:
    """Signs and reads gift tokens; every cookie key verifies, the first one signs."""

    def __init__(self, keys: list[str]) -> None:
        self._signer = CookieSigner(keys, salt="paywall.gift")

    def sign(self, article: str, expires: int) -> str:
        payload = struct.pack(">I", expires) + _digest(article)
        value = base64.urlsafe_b64encode(payload).rstrip(b"=")
        return self._signer.sign(value).decode("ascii")

    def opens(self, token: str, article: str, now: float) -> bool:
        """Whether `token` is ours, unexpired at `now`, and made for `article`."""
        read = self.read(token)
        if read is None:
            return False
        expires, digest = read
        return now < expires and hmac.compare_digest(digest, _digest(article))

    def read(self, token: str) -> tuple[int, bytes] | None:
        """The expiry and article digest a token we signed carries; None for any other."""
        if len(token) > _MAX_TOKEN or not token.isascii():
            return None
        unsigned = self._signer.unsign_current(token.encode("ascii"))
        if unsigned is None:
            return None
        value = unsigned[0]
        try:
            payload = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(payload) != _PAYLOAD_BYTES:
            return None
        (expires,) = struct.unpack(">I", payload[:4])
        return expires, payload[4:]


def gift_token(query_string: bytes) -> str | None:
    """The `gift` parameter of a query, if any (cheap when there is none)."""
    if _NEEDLE not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1")):
        if name == GIFT_PARAMETER:
            return value
    return None


def _digest(article: str) -> bytes:
    data = article.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=_DIGEST_BYTES, person=b"paywall-gift").digest()
