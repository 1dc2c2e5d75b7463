"""Connections an asyncio listener accepted, handed to the engine (``serve`` with ``loop.create_server``'s
keywords, an ``ssl.SSLContext`` or a Unix socket).

A plain TCP or Unix connection is handed over as its descriptor: the engine then reads and writes the
socket itself, as on its own listener. A TLS connection (asyncio terminates TLS with the ``SSLContext``)
goes through a byte pump: this protocol pushes what the transport received into the
engine and writes what the engine pulls out, with backpressure both ways.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from . import _wssession

__all__ = ["AdoptingProtocol"]

#: Bytes pulled from the engine per write.
_CHUNK = 64 * 1024


def _address(value: Any) -> tuple[str, int]:
    """(host, port) of a peername/sockname; ("", 0) for a Unix socket's."""
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return "", 0


class AdoptingProtocol(asyncio.Protocol):
    """One accepted connection: its descriptor goes to the engine, or its bytes go through a pump."""

    def __init__(self, handle: _wssession.ServerHandle, loop: asyncio.AbstractEventLoop, keep_alive: bool) -> None:
        self._handle = handle
        self._keep_alive = keep_alive
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._pump: _wssession.BytePump | None = None
        self._writer: asyncio.Task[None] | None = None
        self._pushing: asyncio.Task[None] | None = None
        self._backlog: list[bytes] = []
        self._eof = False
        self._tls = False
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        tls = transport.get_extra_info("sslcontext") is not None
        if self._keep_alive and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # loop.create_server's keep_alive
        if not tls and sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            # The engine takes the socket: a duplicate descriptor survives the transport's close.
            fd = os.dup(sock.fileno())
            try:
                self._handle.adopt_fd(fd)
            except BaseException:
                os.close(fd)
                raise
            finally:
                transport.abort()
            return
        self._transport = transport
        self._tls = tls
        remote = _address(transport.get_extra_info("peername"))
        local = _address(transport.get_extra_info("sockname"))
        self._pump = self._handle.adopt_pump(remote, local, tls)
        self._writer = self._loop.create_task(self._write())

    def data_received(self, data: bytes) -> None:
        pump = self._pump
        assert pump is not None and self._transport is not None
        if self._pushing is not None:
            self._backlog.append(data)
            return
        try:
            taken = pump.try_push(data)
        except Exception:
            self._transport.abort()
            return
        if taken < len(data):
            # The engine's buffer is full: stop reading until it took the rest.
            self._transport.pause_reading()
            self._backlog.append(data[taken:])
            self._pushing = self._loop.create_task(self._push_backlog())

    async def _push_backlog(self) -> None:
        assert self._pump is not None and self._transport is not None
        try:
            while self._backlog:
                await self._pump.push(self._backlog.pop(0))
        except Exception:
            self._transport.abort()
            return
        finally:
            self._pushing = None
        if self._eof:
            self._pump.end()
        elif not self._transport.is_closing():
            self._transport.resume_reading()

    def eof_received(self) -> bool:
        self._eof = True
        if self._pushing is None and self._pump is not None:
            self._pump.end()
        # Keep a plain transport open: the engine may still answer (the closing handshake). (TLS
        # transports close on EOF whatever this returns.)
        return not self._tls

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def _write(self) -> None:
        assert self._pump is not None and self._transport is not None
        while True:
            data = await self._pump.pull(_CHUNK)
            if data is None:
                self._transport.close()
                return
            self._transport.write(data)
            await self._writable.wait()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pump is None:
            return
        self._writable.set()
        if exc is None and self._eof:
            return  # the engine read the end; it finishes writing or sees the pulls end
        self._pump.fail()
