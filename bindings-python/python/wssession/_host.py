"""Connections an asyncio listener accepted, handed to the engine (``serve`` with ``loop.create_server``'s
keywords, an ``ssl.SSLContext`` or a Unix socket).

A plain TCP or Unix connection is handed over as its descriptor: the engine then reads and writes the
socket itself, as on its own listener. A TLS connection (asyncio terminates TLS with the ``SSLContext``)
goes through a byte pump: this protocol pushes what the transport received into the
engine and writes what the engine pulls out, with backpressure both ways.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import ssl as ssl_module
from typing import Any

from . import _wssession

__all__ = ["AdoptingProtocol", "ASYNCIO_KEYWORDS", "Listen", "listener"]

#: ``loop.create_server`` / ``create_unix_server`` keywords served by an asyncio listener whose
#: connections are handed to the engine (``sock``, ``reuse_port`` and ``backlog`` alone keep the
#: engine's listener).
ASYNCIO_KEYWORDS = frozenset(
    {
        "family", "flags", "reuse_address", "keep_alive", "ssl_handshake_timeout", "ssl_shutdown_timeout",
        "start_serving", "unix", "path", "sock", "reuse_port",
    }
)


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


@dataclasses.dataclass
class Listen:
    """Who listens: the engine (on its own socket or a given one), or asyncio (``asyncio`` holds the
    keywords for ``loop.create_server``/``create_unix_server``; connections are then handed over)."""

    asyncio: dict[str, Any] | None = None
    unix: bool = False
    sock: socket.socket | None = None
    reuse_port: bool = False
    backlog: int = 100

    def take_fd(self) -> int | None:
        """The engine-listener socket's descriptor, listening with ``backlog`` as asyncio would make
        it, handed over (the socket object is detached)."""
        if self.asyncio is not None or self.sock is None:
            return None
        self.sock.listen(self.backlog)
        fd = self.sock.detach()
        self.sock = None
        return fd


def listener(
    kwargs: dict[str, Any], ssl: object, open_timeout: float | None, close_timeout: float | None, backlog: int
) -> Listen:
    """Decides who listens from ``loop.create_server``'s keywords: ``sock`` (a listening TCP socket),
    ``reuse_port`` and ``backlog`` keep the engine's listener; an ``SSLContext``, a Unix socket or any
    other keyword (``family``, ``flags``, ``reuse_address``, ``keep_alive``, ``start_serving=False``,
    ``ssl_*_timeout``) make asyncio listen and hand each connection to the engine."""
    sock = kwargs.get("sock")
    if sock is not None and not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
    reuse_port = kwargs.get("reuse_port")
    if reuse_port is not None and not isinstance(reuse_port, bool):
        raise TypeError(f"reuse_port must be a bool or None, not {type(reuse_port).__name__}")
    unix = bool(kwargs.pop("unix", False))
    engine = (
        not unix
        and not isinstance(ssl, ssl_module.SSLContext)
        and set(kwargs) <= {"sock", "reuse_port", "start_serving"}
        and kwargs.get("start_serving", True) is True
        and (sock is None or (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM))
    )
    if engine:
        return Listen(sock=sock, reuse_port=bool(reuse_port), backlog=backlog)
    options = dict(kwargs, backlog=backlog)
    if isinstance(ssl, ssl_module.SSLContext):
        options["ssl"] = ssl
        options.setdefault("ssl_handshake_timeout", open_timeout)
        options.setdefault("ssl_shutdown_timeout", close_timeout)
    elif ssl is not None:
        raise TypeError("with an asyncio listener (Unix socket, create_server keywords), ssl must be an ssl.SSLContext")
    return Listen(asyncio=options, unix=unix)
