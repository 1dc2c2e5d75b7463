"""Mirrors ``websockets.asyncio``: ``from wssession.asyncio.server import serve`` works like websockets'."""
