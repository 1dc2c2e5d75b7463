"""Mirrors ``websockets.frames``: ``CloseCode``, ``Opcode`` and ``Close``."""

from __future__ import annotations

import enum

from .exceptions import Close

__all__ = ["CloseCode", "Opcode", "Close", "OK_CLOSE_CODES"]


class Opcode(enum.IntEnum):
    """WebSocket frame opcodes (RFC 6455, section 5.2)."""

    CONT = 0x00
    TEXT = 0x01
    BINARY = 0x02
    CLOSE = 0x08
    PING = 0x09
    PONG = 0x0A


class CloseCode(enum.IntEnum):
    """Close codes (RFC 6455, section 7.4.1, and the IANA registry), named as in websockets."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: Close codes that make a closed connection "OK" (ConnectionClosedOK), as in websockets.
OK_CLOSE_CODES = {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
