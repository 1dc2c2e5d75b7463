"""Mirrors ``websockets.datastructures``: ``Headers`` (case-insensitive, repeated names kept)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Union

from ._wssession import Headers

__all__ = ["Headers", "HeadersLike"]

#: What APIs taking headers accept: Headers, a mapping, or (name, value) pairs.
HeadersLike = Union[Headers, Mapping[str, str], Iterable[tuple[str, str]]]
