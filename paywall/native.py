"""`mypyc_attr` for the optional compiled build (setup.py), a no-op when mypy is absent.

mypyc reads the decorator from the source; at run time it only has to exist. The pure
package must not need mypy, so without mypy_extensions it is an identity decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

try:
    from mypy_extensions import mypyc_attr
except ImportError:  # no mypy installed: nothing reads the decorator

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Callable[[T], T]:
        return lambda cls: cls


__all__ = ["mypyc_attr"]
