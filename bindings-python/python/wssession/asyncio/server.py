"""Mirrors ``websockets.asyncio.server``."""

from ..auth import basic_auth
from ..server import (
    CallbackHandler,
    HandshakeConnection,
    Response,
    Server,
    ServerConnection,
    broadcast,
    serve,
    serve_callbacks,
    unix_serve,
)

__all__ = [
    "serve",
    "unix_serve",
    "serve_callbacks",
    "basic_auth",
    "broadcast",
    "Server",
    "ServerConnection",
    "HandshakeConnection",
    "Response",
    "CallbackHandler",
]
