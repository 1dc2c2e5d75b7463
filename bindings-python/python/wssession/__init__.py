"""wssession: WebSocket server sessions for asyncio on a Rust engine.

A drop-in for the ``websockets`` asyncio server (``serve``, ``ServerConnection``, the exception
hierarchy) whose connections also carry every member of Ktor's WebSocket session (``incoming``,
``outgoing``, ``flush``, ``terminate``, ``close_reason_future``, ``send_serialized``, ...).
"""

from __future__ import annotations

import atexit

from . import _wssession, datastructures, exceptions, frames, http11, protocol
from ._types import JsonConverter, State
from ._wssession import CloseReason, Frame, Headers, Incoming, Outgoing, Position, Published, Request, ServerConnection
from .auth import basic_auth
from .exceptions import *  # noqa: F403 -- the exception classes
from .exceptions import __all__ as __all__  # their names, listed once (in exceptions.py)
from .server import (
    CallbackHandler,
    HandshakeConnection,
    Response,
    Server,
    broadcast,
    serve,
    serve_callbacks,
    unix_serve,
)

# The workspace version (Cargo.toml), compiled into the native module.
__version__: str = _wssession.__version__

# From interpreter exit on, the engine's threads stop calling into Python.
atexit.register(_wssession._finalize)

# A new list: the exceptions' names, then the rest of the API (exceptions.__all__ stays as is).
__all__ = [
    *__all__,
    "serve",
    "unix_serve",
    "serve_callbacks",
    "broadcast",
    "basic_auth",
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
    "Position",
    "Published",
    "State",
    "JsonConverter",
    "exceptions",
    "frames",
    "http11",
    "datastructures",
    "protocol",
]
