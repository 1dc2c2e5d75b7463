"""wssession: WebSocket server sessions for asyncio on a Rust engine.

A drop-in for the ``websockets`` asyncio server (``serve``, ``ServerConnection``, the exception
hierarchy) whose connections also carry every member of Ktor's WebSocket session (``incoming``,
``outgoing``, ``flush``, ``terminate``, ``close_reason_future``, ``send_serialized``, ...).
"""

from __future__ import annotations

import atexit

from . import _wssession, exceptions
from ._types import JsonConverter, State
from ._wssession import CloseReason, Frame, Headers, Incoming, Outgoing, Request, ServerConnection
from .exceptions import (
    Close,
    WebSocketException,
    ConnectionClosed,
    ConnectionClosedOK,
    ConnectionClosedError,
    InvalidHandshake,
    SecurityError,
    InvalidMessage,
    InvalidStatus,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidOrigin,
    InvalidUpgrade,
    NegotiationError,
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidURI,
    ProtocolError,
    PayloadTooBig,
    InvalidState,
    ConcurrencyError,
    SessionTimeoutError,
    InvalidArgumentError,
    NoConverterError,
    DeserializeError,
    SessionIOError,
    WouldBlockError,
    DroppedError,
    WouldDeadlockError,
)
from .server import (
    CallbackHandler,
    HandshakeConnection,
    Response,
    Server,
    broadcast,
    serve,
    serve_callbacks,
)

__version__ = "0.1.0"

# From interpreter exit on, the engine's threads stop calling into Python.
atexit.register(_wssession._finalize)

__all__ = [
    "serve",
    "serve_callbacks",
    "broadcast",
    "Server",
    "ServerConnection",
    "HandshakeConnection",
    "CallbackHandler",
    "Response",
    "Request",
    "Headers",
    "Frame",
    "CloseReason",
    "Incoming",
    "Outgoing",
    "State",
    "JsonConverter",
    "exceptions",
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
    "ProtocolError",
    "PayloadTooBig",
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
]
