"""Mirrors ``websockets.protocol``: the connection ``State`` and its members as module constants."""

from __future__ import annotations

from ._types import State

__all__ = ["State", "CONNECTING", "OPEN", "CLOSING", "CLOSED"]

CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED
