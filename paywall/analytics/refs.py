"""The signed reference an offer link carries: which prompt, offer and section, on which day.

It rides on the click (`{prefix}/o/{offer}?r=REF`) and on to the offer's page
(`?paywall_ref=REF`), and comes back with a conversion (`Entitlements.grant(..., ref=REF)`),
so a conversion is credited to what the reader saw. No reader id, no address: every reader
shown the same prompt and offer in the same section on the same day gets the same ref, so a
ref cannot follow anyone. Signed with the cookie keys (own salt); a ref that fails the
signature, or is not one of ours, is no ref: the click still goes through, uncounted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from itsdangerous import BadData, URLSafeSerializer

MAX_REF_CHARS = 512
_SALT = "paywall.ref"
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Ref:
    prompt: str
    offer: str
    section: str
    day: date  # when the prompt was shown, in meter.timezone
    arm: str = ""  # an experiment's arm, when there is one

    @property
    def arms(self) -> list[tuple[str, str]]:
        """(experiment, arm) pairs of `arm` ("id=arm,id=arm": a view may be in several)."""
        pairs = (item.partition("=") for item in self.arm.split(",") if item)
        return [(experiment, arm) for experiment, _, arm in pairs if experiment and arm]

    def payload(self) -> list[str]:
        day = self.day.strftime("%Y%m%d")
        fields = [self.prompt, self.offer, self.section, day]
        return [*fields, self.arm] if self.arm else fields


class RefSigner:
    """Signs refs with the first key and reads refs signed with any of them."""

    def __init__(self, keys: list[str]) -> None:
        # itsdangerous signs with the LAST key of the list; ours signs with the first.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt=_SALT)
        # Not `_signed`: mypyc names the C field `__signed`, which gcc reads as a keyword.
        self._texts: dict[Ref, str] = {}

    def sign(self, ref: Ref) -> str:
        """The ref as URL-safe text (the same ref is signed once, then remembered)."""
        text = self._texts.get(ref)
        if text is None:
            if len(self._texts) >= _CACHE_SIZE:
                self._texts.clear()
            text = self._texts[ref] = self._serializer.dumps(ref.payload())
        return text

    def read(self, text: str) -> Ref | None:
        """The ref `text` carries, or None when it is not a ref we signed."""
        if not text or len(text) > MAX_REF_CHARS:
            return None
        try:
            payload = self._serializer.loads(text)
        except (BadData, ValueError, UnicodeDecodeError):
            return None
        if (
            not isinstance(payload, list)
            or len(payload) not in (4, 5)
            or not all(isinstance(item, str) for item in payload)
        ):
            return None
        try:
            day = date(int(payload[3][:4]), int(payload[3][4:6]), int(payload[3][6:8]))
        except ValueError:
            return None
        arm = payload[4] if len(payload) == 5 else ""
        return Ref(payload[0], payload[1], payload[2], day, arm)
