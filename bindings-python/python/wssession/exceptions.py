"""Exceptions raised by wssession: ``websockets``' hierarchy plus wssession's own errors.

Every exception derives from :class:`WebSocketException`, as in ``websockets``.
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "Close",
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidHandshake",
    "SecurityError",
    "InvalidMessage",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidURI",
    "InvalidProxy",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMethod",
    "InvalidProtocol",
    "ProtocolError",
    "PayloadTooBig",
    "TooManyFragments",
    "InvalidState",
    "ConcurrencyError",
    "SessionTimeoutError",
    "InvalidArgumentError",
    "NoConverterError",
    "DeserializeError",
    "SessionIOError",
    "WouldBlockError",
    "DroppedError",
    "WouldDeadlockError",
    "RecoveryError",
    "BackplaneError",
]

#: Close codes that make a closed connection "OK" (as in ``websockets``).
OK_CLOSE_CODES = frozenset({1000, 1001, 1005})


class Close:
    """A Close frame's content: ``code`` and ``reason``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"Close(code={self.code}, reason={self.reason!r})"

    def __str__(self) -> str:
        return f"{self.code} ({self.reason})" if self.reason else str(self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and (self.code, self.reason) == (other.code, other.reason)

    def __hash__(self) -> int:
        return hash((self.code, self.reason))


class WebSocketException(Exception):
    """Base class of every exception raised by wssession."""


class ConnectionClosed(WebSocketException):
    """The connection is closed (or closing); ``rcvd``/``sent`` are the Close frames exchanged."""

    def __init__(self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None = None) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(rcvd, sent)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """The close code received (1006 when no Close frame was received)."""
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """The close reason received ("" when none)."""
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally: both close codes are 1000, 1001 (or 1005 received)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error code or without a closing handshake."""


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class SecurityError(InvalidHandshake):
    """The handshake exceeded a security limit."""


class RequestLineTooLong(SecurityError):
    """The request line of a handshake request is too long."""


class StatusLineTooLong(SecurityError):
    """The status line of a handshake response is too long (client side; kept for imports)."""


class HeaderLineTooLong(SecurityError):
    """A header line of a handshake request is too long."""


class TooManyHeaders(SecurityError):
    """A handshake request has too many headers."""


class ProxyError(InvalidHandshake):
    """Connecting through a proxy failed (client side; kept for imports)."""


class InvalidProxyMessage(ProxyError):
    """An HTTP proxy response is malformed (client side; kept for imports)."""


class InvalidProxyStatus(ProxyError):
    """An HTTP proxy rejected the connection (client side; kept for imports)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        super().__init__(response)


class InvalidMessage(InvalidHandshake):
    """The handshake request was malformed."""


class InvalidMethod(InvalidHandshake):
    """A handshake request does not use HTTP GET."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(method)

    def __str__(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake):
    """A handshake request does not use HTTP/1.1."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        super().__init__(protocol)

    def __str__(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """The handshake was answered with a non-101 status (client side; kept for import compatibility)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        super().__init__(response)


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing or invalid."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        super().__init__(name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A header could not be parsed."""


class InvalidHeaderValue(InvalidHeader):
    """A header has an unacceptable value."""


class InvalidOrigin(InvalidHeader):
    """The Origin header is not in ``origins``."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header is invalid."""


class NegotiationError(InvalidHandshake):
    """Subprotocol or extension negotiation failed (answered with HTTP 400)."""


class DuplicateParameter(NegotiationError):
    """An extension parameter is repeated."""


class InvalidParameterName(NegotiationError):
    """An extension parameter name is invalid."""


class InvalidParameterValue(NegotiationError):
    """An extension parameter value is invalid."""


class InvalidURI(WebSocketException):
    """A WebSocket URI is invalid (client side; kept for imports)."""


class InvalidProxy(WebSocketException):
    """A proxy is invalid (client side; kept for imports)."""


class ProtocolError(WebSocketException):
    """The peer violated RFC 6455; the session was closed with the matching code."""


class PayloadTooBig(WebSocketException):
    """A frame or message exceeded ``max_size`` (a ``WebSocketException``, not a ``ProtocolError``,
    as in websockets)."""


class TooManyFragments(WebSocketException):
    """A fragmented message has too many frames (websockets' limit; the engine bounds the message
    size instead, so wssession itself does not raise it)."""

    def __init__(self, max_fragments: int) -> None:
        self.max_fragments = max_fragments
        super().__init__(f"fragmented message exceeds limit of {max_fragments} frames")


class InvalidState(WebSocketException, AssertionError):
    """An operation is not allowed in the current state."""


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines tried to read the same connection at once."""


class SessionTimeoutError(WebSocketException, builtins.TimeoutError):
    """A deadline passed (ping timeout, close timeout)."""


class InvalidArgumentError(WebSocketException, ValueError):
    """An argument was out of range or not allowed; nothing was sent or changed."""


class NoConverterError(WebSocketException):
    """``send_serialized``/``receive_deserialized`` was used with ``converter = None``."""


class DeserializeError(WebSocketException):
    """The converter could not decode a message; ``frame`` is the message. The session stays open."""

    def __init__(self, frame: Any, message: str) -> None:
        self.frame = frame
        self.message = message
        super().__init__(f"cannot deserialize frame: {message}")


class SessionIOError(WebSocketException, OSError):
    """A socket or file operation failed."""


class WouldBlockError(WebSocketException):
    """The send queue is full; nothing was queued."""


class DroppedError(WebSocketException):
    """The send queue is over its hard limit; the frame was dropped."""


class WouldDeadlockError(WebSocketException, RuntimeError):
    """A blocking call was made from a runtime thread; use the async form."""


class RecoveryError(WebSocketException):
    """A topic cannot be resumed from the given position, or a publish has none. ``reason`` says why:
    ``"trimmed"`` (the history no longer reaches back that far), ``"epoch_changed"`` (the history was
    lost), ``"no_history"`` (no Redis history configured) or ``"unavailable"`` (broker unreachable)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BackplaneError(WebSocketException):
    """The backplane could not take a publish (its queue toward the broker is full, or it stopped)."""
