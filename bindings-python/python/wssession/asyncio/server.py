"""Mirrors ``websockets.asyncio.server``."""

from ..server import HandshakeConnection, Response, Server, ServerConnection, broadcast, serve, serve_callbacks

__all__ = ["serve", "serve_callbacks", "broadcast", "Server", "ServerConnection", "HandshakeConnection", "Response"]
