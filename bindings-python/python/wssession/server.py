"""The websockets-compatible asyncio server: ``serve``, ``Server``, ``broadcast``."""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
import re
import socket
import ssl as ssl_module
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, Union

from . import _wssession
from ._wssession import CloseReason, Frame, Headers, Request, ServerConnection
from .exceptions import ConcurrencyError, InvalidHandshake, NegotiationError
from ._types import State
from ._host import ASYNCIO_KEYWORDS, AdoptingProtocol, Listen, listener
from ._records import EngineRecords
from .http11 import SERVER, Response

__all__ = [
    "serve",
    "unix_serve",
    "serve_callbacks",
    "Server",
    "ServerConnection",
    "HandshakeConnection",
    "Response",
    "CallbackHandler",
    "broadcast",
]

logger = logging.getLogger("wssession.server")

Handler = Callable[[ServerConnection], Awaitable[None]]
Origin = Union[str, re.Pattern[str], None]
ProcessRequest = Callable[["HandshakeConnection", Request], Union[Response, None, Awaitable[Union[Response, None]]]]
ProcessResponse = Callable[
    ["HandshakeConnection", Request, Response], Union[Response, None, Awaitable[Union[Response, None]]]
]
LoggerLike = Union[logging.Logger, logging.LoggerAdapter[Any]]

#: Headers of the 101 the engine writes itself (process_response's changes to them are not applied).
_ENGINE_HEADERS = frozenset(
    {"upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions"}
)

SelectSubprotocol = Callable[["HandshakeConnection", Sequence[str]], Union[str, None]]


class CallbackHandler(Protocol):
    """A push-style handler: ``on_message`` is required; ``on_open``, ``on_drain`` and ``on_close`` are optional.

    ``on_drain(connection)`` fires when the send queue falls below its low-water mark after
    ``try_send`` reported "buffered": pair it with ``pause()``/``resume()`` for backpressure.

    The callbacks run on the wssession runtime's threads while holding the GIL, never on the
    asyncio loop; one connection's callbacks never run concurrently. Use the non-waiting members
    from them (``try_send``, ``outgoing.try_send``, ``close`` without awaiting, ``terminate``).
    """

    def on_message(self, connection: ServerConnection, frame: Frame) -> None:
        """A complete Text or Binary message arrived."""


class HandshakeConnection:
    """What ``process_request``, ``process_response`` and ``select_subprotocol`` receive: the connection
    before the upgrade. Attributes set on it (``username``, ...) are found on the ``ServerConnection``."""

    def __init__(self, server: Server, request: Request) -> None:
        self.server = server
        self.request = request
        self.remote_address = request.remote_address
        self.local_address = request.local_address
        self.logger = server.logger

    def respond(self, status: int | http.HTTPStatus, text: str) -> Response:
        """A plain-text response with ``status`` and ``text`` as body."""
        status = http.HTTPStatus(int(status))
        headers = Headers([("Content-Type", "text/plain; charset=utf-8")])
        return Response(status.value, status.phrase, headers, text.encode())


_HANDSHAKE_OWN = frozenset({"server", "request", "remote_address", "local_address", "logger"})


class _SocketInfo:
    """Stands for a listening socket (the real one is owned by the Rust engine)."""

    def __init__(self, address: tuple[str, int], ipv6: bool) -> None:
        self._address = address
        self.family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.type = socket.SOCK_STREAM

    def getsockname(self) -> tuple[str, int]:
        """The bound (host, port)."""
        return self._address


def _number(name: str, value: object, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number{' or None' if allow_none else ''}, not {type(value).__name__}")
    if value != value or value < 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, not {value}")
    return float(value)


def _int(name: str, value: object, low: int, high: int = 2**62) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


# serve()'s options that are the core's server settings (checked by _wssession.check_server_config).
_CORE_SETTINGS = (
    "host",
    "port",
    "max_frame_size",
    "ping_interval_ms",
    "timeout_ms",
    "close_timeout_ms",
    "incoming_queue",
    "write_high_water",
    "write_low_water",
    "deflate",
    "tls_cert",
    "tls_key",
    "max_connections",
    "backlog",
    "handshake_timeout",
    "metrics_path",
    "host_loop",
)


def _limit(name: str, value: object, low: int) -> tuple[int, int | None]:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (high, low) tuple")
        high = _int(name, value[0], low)
        lo = None if value[1] is None else _int(name, value[1], 0, high)
        return high, lo
    return _int(name, value, low), None


_WAKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _wssession.LoopWaker | None] = (
    weakref.WeakKeyDictionary()
)


def _loop_waker(loop: asyncio.AbstractEventLoop) -> _wssession.LoopWaker | None:
    """The loop's waker (one per loop, watched by it); None where the loop cannot watch a descriptor."""
    try:
        return _WAKERS[loop]
    except KeyError:
        pass
    waker: _wssession.LoopWaker | None = _wssession.LoopWaker()
    assert waker is not None
    try:
        loop.add_reader(waker.fileno(), waker.run)
    except NotImplementedError:  # e.g. the Proactor loop: receives fall back to one future per wait
        waker = None
    _WAKERS[loop] = waker
    return waker


class Server:
    """A running WebSocket server (websockets' ``Server``); use ``async with serve(...) as server``."""

    def __init__(self, handler: Handler | None, events: CallbackHandler | None, options: dict[str, Any]) -> None:
        self._handler = handler
        self._events = events
        self._options = options
        self._handle: _wssession.ServerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Task[None] | None = None
        self._closed: asyncio.Event | None = None
        self._all: set[ServerConnection] = set()
        self._records: EngineRecords | None = None
        self.process_request: ProcessRequest | None = options.pop("process_request")
        self.process_response: ProcessResponse | None = options.pop("process_response")
        self.select_subprotocol: SelectSubprotocol | None = options.pop("select_subprotocol")
        self.subprotocols: list[str] | None = options.pop("subprotocols")
        self.origins: list[Origin] | None = options.pop("origins")
        self.server_header: str | None = options.pop("server_header")
        self._grace: float = options.pop("grace")
        self._host_loop: bool = options["host_loop"]
        self._listen: Listen = options.pop("listen")
        self._aio: asyncio.Server | None = None
        logger_: LoggerLike | None = options.pop("logger")
        #: The logger of this server and its connections (``logger=``; default ``wssession.server``).
        self.logger: LoggerLike = logger if logger_ is None else logger_

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections (handshake done, closing handshake not started), as in websockets."""
        return {c for c in self._all if c.state is State.OPEN}

    @property
    def _extra_headers(self) -> list[tuple[str, str]]:
        """Headers every 101 carries besides the engine's own."""
        return [] if self.server_header is None else [("Server", self.server_header)]

    async def _start(self) -> Server:
        if self._handle is not None:
            return self
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._closed = asyncio.Event()
        hook = any(
            x is not None for x in (self.process_request, self.process_response, self.select_subprotocol, self.origins)
        ) or bool(self.subprotocols)
        listen = self._listen
        self._handle = await _wssession.start_server(
            call_soon=loop.call_soon_threadsafe,
            detached=listen.asyncio is not None,
            listener_fd=listen.take_fd(),
            reuse_port=listen.reuse_port,
            waker=_loop_waker(loop) if self._handler is not None else None,
            on_session=self._on_session if self._handler is not None else None,
            on_accept=self._on_accept if hook else None,
            events=self._events,
            app=self,
            response_headers=self._extra_headers,
            logger=self._engine_records(),
            # The logger's level as it is now: records it would drop never cross into Python.
            log_level=self.logger.getEffectiveLevel(),
            **self._options,
        )
        if listen.asyncio is not None:
            handle = self._handle
            keep_alive = bool(listen.asyncio.pop("keep_alive", False))

            def factory() -> AdoptingProtocol:
                return AdoptingProtocol(handle, loop, keep_alive)

            try:
                if listen.unix:
                    self._aio = await loop.create_unix_server(factory, **listen.asyncio)
                else:
                    self._aio = await loop.create_server(factory, **listen.asyncio)
            except BaseException:
                handle.close()
                raise
        if self.is_serving():
            for sock in self.sockets:
                self.logger.info("server listening on %s", _socket_name(sock.getsockname()))
        return self

    # ---- called on the loop thread by the engine ----

    def _engine_records(self) -> EngineRecords:
        """What the engine's records go through on their way to ``self.logger``."""
        self._records = EngineRecords(self.logger)
        return self._records

    def _on_session(self, conn: ServerConnection) -> None:
        if self._records is not None:
            self._records.connections[conn.session_id] = conn
        state = conn._handshake_state
        if state:
            conn.__dict__.update(state)
        self._all.add(conn)
        if self._host_loop:
            conn._host_watch()
        task = asyncio.ensure_future(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: ServerConnection) -> None:
        assert self._handler is not None
        # "connection closed" is the engine's record (with code, initiator and duration): see observe.rs.
        if self.logger.isEnabledFor(logging.INFO):
            conn.logger.info("connection open")
        try:
            await self._handler(conn)
        except asyncio.CancelledError:
            conn._handler_done("handler cancelled")
            raise
        except Exception as exc:
            conn.logger.error("connection handler failed", exc_info=True)
            conn._handler_done(f"{type(exc).__name__}: {exc}")
        else:
            conn._handler_done(None)
        finally:
            self._all.discard(conn)

    def _on_accept(self, request: Request, resolver: _wssession.Resolver) -> None:
        task = asyncio.ensure_future(self._accept(request, resolver))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, request: Request, resolver: _wssession.Resolver) -> None:
        conn = HandshakeConnection(self, request)
        response: Response | None = None
        subprotocol: str | None = None
        if self.process_request is not None:
            response = await self._call_hook("process_request", conn, self.process_request, conn, request)
        # A response process_request returns is sent as it is: even a 101, which the engine refuses (500).
        upgrading = response is None
        if response is None:
            if "websocket" not in request.headers.get("Upgrade", "").lower():
                resolver.accept(None)  # not an upgrade: the engine answers with the right 4xx
                return
            response, subprotocol = self._negotiate(conn, request)
        if self.server_header is not None:
            response.headers["Server"] = self.server_header
        if self.process_response is not None:
            replaced = await self._call_hook("process_response", conn, self.process_response, conn, request, response)
            if replaced is not None:
                response = replaced
        if not isinstance(response, Response):
            raise TypeError(f"process_request must return a Response or None, not {type(response).__name__}")
        if response.status_code != 101 or not upgrading:
            try:
                resolver.respond(response.status_code, response.headers.raw_items(), bytes(response.body))
            except ValueError:
                # The engine refused the response (status, header names or values): 500 instead.
                self.logger.error("invalid response to the opening handshake", exc_info=True)
                text = "Failed to open a WebSocket connection.\nSee server log for more information.\n"
                error = conn.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, text)
                resolver.respond(error.status_code, error.headers.raw_items(), bytes(error.body))
            return
        state = {k: v for k, v in vars(conn).items() if k not in _HANDSHAKE_OWN}
        extra = [(n, v) for n, v in response.headers.raw_items() if n.lower() not in _ENGINE_HEADERS]
        state["_ws_extra_headers"] = extra
        offered = response.headers.get("Sec-WebSocket-Protocol")
        resolver.accept(subprotocol if offered is None else offered, state, extra)

    async def _call_hook(self, name: str, conn: HandshakeConnection, hook: Any, *args: Any) -> Response | None:
        """Runs ``process_request``/``process_response`` (sync or async); a failure answers 500."""
        try:
            response = hook(*args)
            if inspect.isawaitable(response):
                response = await response
        except Exception:
            self.logger.error("%s failed", name, exc_info=True)
            text = "Failed to open a WebSocket connection.\nSee server log for more information.\n"
            return conn.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, text)
        if response is not None and not isinstance(response, Response):
            raise TypeError(f"{name} must return a Response or None, not {type(response).__name__}")
        return response

    def _negotiate(self, conn: HandshakeConnection, request: Request) -> tuple[Response, str | None]:
        """The 101 for an upgrade request (origin check, subprotocol), or the error response."""
        if self.origins is not None:
            origin = request.headers.get("Origin")
            if not any(
                o == origin or (isinstance(o, re.Pattern) and origin is not None and o.fullmatch(origin))
                for o in self.origins
            ):
                text = f"Failed to open a WebSocket connection: invalid Origin header: {origin}.\n"
                return conn.respond(http.HTTPStatus.FORBIDDEN, text), None
        try:
            subprotocol = self._subprotocol(conn, request.offered_subprotocols)
        except InvalidHandshake as exc:
            text = f"Failed to open a WebSocket connection: {exc}.\n"
            return conn.respond(http.HTTPStatus.BAD_REQUEST, text), None
        except Exception:
            self.logger.error("opening handshake failed", exc_info=True)
            text = "Failed to open a WebSocket connection.\nSee server log for more information.\n"
            return conn.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, text), None
        headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")])
        key = request.headers.get("Sec-WebSocket-Key")
        if key is not None:
            headers["Sec-WebSocket-Accept"] = _wssession.accept_key(key)
        if subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = subprotocol
        return Response(101, "Switching Protocols", headers), subprotocol

    def _subprotocol(self, conn: HandshakeConnection, offered: list[str]) -> str | None:
        if self.select_subprotocol is not None:
            return self.select_subprotocol(conn, offered)
        if not self.subprotocols:
            return None
        if not offered:
            raise NegotiationError("missing subprotocol")
        for p in self.subprotocols:
            if p in offered:
                return p
        raise NegotiationError("invalid subprotocol; expected one of " + ", ".join(self.subprotocols))

    # ---- websockets' Server API ----

    @property
    def handle(self) -> _wssession.ServerHandle:
        """The native server handle."""
        if self._handle is None:
            raise RuntimeError("the server is not started; use `async with serve(...)` or `await serve(...)`")
        return self._handle

    @property
    def port(self) -> int:
        """The bound port (the real one when port 0 was asked; 0 for a Unix socket)."""
        if self._aio is not None:
            name = self._aio.sockets[0].getsockname() if self._aio.sockets else None
            return int(name[1]) if isinstance(name, tuple) else 0
        return self.handle.port

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets: asyncio's when it listens, else objects with ``getsockname()``
        and ``family`` standing for the engine's."""
        if self._aio is not None:
            return list(self._aio.sockets)
        return [_SocketInfo(self.handle.local_address, self.handle.is_ipv6)]

    def stats(self) -> dict[str, Any]:
        """Server-wide figures since the server started, as one snapshot: ``connections_open``,
        ``connections_total``, ``handshakes_accepted``, ``handshakes_refused`` (by status), ``closes``
        (by ``(code, initiator)``), ``violations`` (by kind), ``messages_in``/``bytes_in``/``messages_out``/
        ``bytes_out``, ``backpressure_drops``/``backpressure_waits``, ``pings_sent``, ``ping_timeouts``,
        ``tls_failures``, and for topics ``publishes``, ``publish_deliveries``, ``publish_drops``,
        ``slow_subscriber_closes``, ``publish_compressions`` and ``topics`` (the same per topic); ``backplane``:
        ``kind``, ``connected`` and the counts of BACKPLANE.md."""
        return self.handle.stats()

    def metrics(self) -> str:
        """The same figures in the Prometheus (OpenMetrics) text format."""
        return self.handle.metrics()

    def publish(
        self, topic: str, message: str | bytes | bytearray | memoryview, text: bool | None = None
    ) -> _wssession.Published:
        """Sends ``message`` to every connection subscribed to ``topic`` (``connection.subscribe``), framed
        once, without waiting: str is sent as Text, bytes-like as Binary (``text`` overrides). A subscriber
        over its write limit gets the ``slow_subscriber`` policy. Returns the counts: ``delivered``,
        ``dropped``, ``closed``."""
        return self.handle.publish(topic, message, text)

    async def publish_positioned(
        self, topic: str, message: str | bytes | bytearray | memoryview, text: bool | None = None
    ) -> _wssession.Position:
        """Sends ``message`` to every subscriber of ``topic`` on every server sharing the backplane's Redis
        history (``serve(backplane="redis://...?history=N")``) and returns its ``Position`` once Redis placed
        it; every subscriber, this server's too, receives it from Redis in position order. Raises
        ``RecoveryError`` (``reason="no_history"``) without a history, ``BackplaneError`` when Redis cannot
        take it. A client that reconnects with the position of the last message it received resumes with
        ``await connection.subscribe_from(topic, position)``."""
        return await self.handle.publish_positioned(topic, message, text)

    def subscriber_count(self, topic: str) -> int:
        """How many connections are subscribed to ``topic``."""
        return self.handle.subscriber_count(topic)

    def topics(self) -> list[str]:
        """Every topic with at least one subscriber, sorted."""
        return self.handle.topics()

    def is_serving(self) -> bool:
        """Whether the server accepts connections."""
        if self._closing is not None or self._handle is None:
            return False
        if self._aio is not None:
            return self._aio.is_serving()
        return not self._handle.is_closed

    async def start_serving(self) -> None:
        """Starts accepting (after ``serve(..., start_serving=False)``); a no-op when already serving."""
        if self._aio is not None:
            await self._aio.start_serving()
            for sock in self.sockets:
                self.logger.info("server listening on %s", _socket_name(sock.getsockname()))

    def handshake_response(self, request: Request) -> _wssession.Handshake:
        """The 101 this server answers ``request`` with, for a host that reads the upgrade request and
        writes the response itself (``handshake.to_bytes()``); InvalidHandshake if it is no upgrade."""
        return self.handle.handshake_response(request)

    def upgraded(
        self, sock: socket.socket, request: Request, handshake: _wssession.Handshake, leftover: bytes = b""
    ) -> _wssession.UpgradedConnection:
        """Takes a connection the host upgraded (it wrote ``handshake``'s 101 on ``sock``; ``leftover``
        holds bytes it read after the request head). The server owns ``sock`` from here; the session
        does nothing until ``start(handshake.negotiated)`` (Ktor's ``start``), then ``handler`` runs."""
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock).__name__}")
        fd = sock.detach()
        try:
            return self.handle.upgraded(fd, request, handshake, bytes(leftover))
        except BaseException:
            socket.socket(fileno=fd).close()
            raise

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the handlers run on."""
        if self._loop is None:
            raise RuntimeError("the server is not started")
        return self._loop

    def close(self, close_connections: bool = True, code: int = 1001, reason: str = "") -> None:
        """Stops accepting; with ``close_connections``, closes every connection with ``code`` (1001,
        going away) and ``reason`` (empty), as websockets does. ``wait_closed`` then waits for the
        connections to close and every handler to return. Idempotent."""
        if self._closing is not None:
            return
        handle = self.handle
        self.logger.info("server closing")
        shutdown = handle.shutdown(self._grace, code, reason) if close_connections else None
        handle.close()
        if self._aio is not None:
            self._aio.close()

        async def closing() -> None:
            if shutdown is not None:
                await shutdown
            await handle.wait()
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            self.logger.info("server closed")

        self._closing = asyncio.ensure_future(closing())
        assert self._closed is not None
        self._closed.set()

    async def wait_closed(self) -> None:
        """Waits until the server is closed and every handler has returned."""
        assert self._closed is not None
        await self._closed.wait()
        assert self._closing is not None
        await asyncio.shield(self._closing)

    async def serve_forever(self) -> None:
        """Runs until ``close()`` is called; cancelling it closes the server (as websockets)."""
        try:
            if not self.is_serving() and self._closing is None:
                await self.start_serving()
            await self.wait_closed()
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise

    def __await__(self) -> Any:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


def _socket_name(name: Any) -> str:
    """A listening socket's name for the log: host:port, or the Unix socket's path."""
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    return str(name)


def unix_serve(handler: Handler, path: str | None = None, **kwargs: Any) -> Server:
    """As :func:`serve` on a Unix socket at ``path`` (websockets' ``unix_serve``): asyncio listens and
    hands each connection to the engine (its bytes through the byte pump when ``ssl`` is an SSLContext)."""
    return serve(handler, unix=True, path=path, **kwargs)


def serve(
    handler: Handler,
    host: str | None = None,
    port: int | None = None,
    *,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | None = 2**20,
    max_queue: int | tuple[int, int | None] | None = 16,
    write_limit: int | tuple[int, int | None] = 2**15,
    compression: str | None = "deflate",
    subprotocols: Sequence[str] | None = None,
    select_subprotocol: SelectSubprotocol | None = None,
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
    server_header: str | None = SERVER,
    origins: Sequence[Origin] | None = None,
    ssl: ssl_module.SSLContext | tuple[str, str] | None = None,
    open_timeout: float | None = 10,
    max_connections: int = 100_000,
    backlog: int = 1024,
    logger: LoggerLike | None = None,
    metrics_path: str | None = None,
    backplane: str | None = None,
    slow_subscriber: str | int = "drop",
    host_loop: bool = False,
    create_connection: Any = None,
    extensions: Any = None,
    _events: CallbackHandler | None = None,
    **kwargs: Any,
) -> Server:
    """Starts a WebSocket server: ``async with serve(handler, host, port) as server`` or
    ``server = await serve(...)``.

    Mirrors ``websockets.asyncio.server.serve``; see the package README for the differences.
    ``slow_subscriber`` (a wssession addition) is what ``publish`` does with a subscriber over its write
    limit: ``"drop"`` (the default: it misses that message, counted) or a close code, 1008 or 1013
    (it is closed with that code). ``host_loop=True`` (a wssession addition) lets the asyncio loop read
    each connection's socket (``loop.add_reader``) instead of the engine's threads: messages arrive on the
    loop's thread without a thread hand-off; plain TCP listeners only (not with ``ssl`` or Unix sockets).
    """
    for name in kwargs:
        if name not in ASYNCIO_KEYWORDS:
            raise TypeError(f"serve() got an unexpected keyword argument {name!r} (not one of loop.create_server's)")
    if create_connection is not None:
        raise TypeError(
            "serve() does not support create_connection: connections are the engine's ServerConnection objects"
        )
    if extensions is not None:
        raise TypeError('serve() does not support extensions; permessage-deflate is set with compression="deflate"')
    if _events is None and not callable(handler):
        raise TypeError(f"handler must be an async function of the connection, not {type(handler).__name__}")
    if host is not None and not isinstance(host, str):
        raise TypeError(f"host must be a str or None, not {type(host).__name__}")
    port = 0 if port is None else _int("port", port, 0, 65535)
    interval = _number("ping_interval", ping_interval)
    timeout = _number("ping_timeout", ping_timeout)
    close_t = _number("close_timeout", close_timeout)
    size = 2**62 if max_size is None else _int("max_size", max_size, 0)
    queue, queue_low = (4096, None) if max_queue is None else _limit("max_queue", max_queue, 0)
    if queue_low is not None:
        raise ValueError(
            "max_queue's low-water mark is not supported: the engine reads again as soon as the queue has room; "
            "pass max_queue=high"
        )
    high, low = _limit("write_limit", write_limit, 0)
    if compression not in ("deflate", None):
        raise ValueError(f'compression must be "deflate" or None, not {compression!r}')
    if subprotocols is not None:
        if isinstance(subprotocols, str) or not all(isinstance(s, str) for s in subprotocols):
            raise TypeError("subprotocols must be a sequence of str")
    if origins is not None:
        if isinstance(origins, str) or not all(o is None or isinstance(o, (str, re.Pattern)) for o in origins):
            raise TypeError("origins must be a sequence of str, re.Pattern or None")
    for name, fn in (
        ("select_subprotocol", select_subprotocol),
        ("process_request", process_request),
        ("process_response", process_response),
    ):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable, not {type(fn).__name__}")
    if server_header is not None and not isinstance(server_header, str):
        raise TypeError(f"server_header must be a str or None, not {type(server_header).__name__}")
    if backplane is not None and not isinstance(backplane, str):
        raise TypeError(f"backplane must be a str (a redis:// or nats:// URL) or None, not {type(backplane).__name__}")
    if logger is not None and not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
        raise TypeError(f"logger must be a logging.Logger or LoggerAdapter, not {type(logger).__name__}")
    if slow_subscriber != "drop" and (isinstance(slow_subscriber, bool) or not isinstance(slow_subscriber, int)):
        raise TypeError(f'slow_subscriber must be "drop" or a close code (1008 or 1013), not {slow_subscriber!r}')
    if not isinstance(host_loop, bool):
        raise TypeError(f"host_loop must be a bool, not {type(host_loop).__name__}")
    cert = key = None
    listen = listener(kwargs, ssl, open_timeout, close_timeout, backlog)
    if host_loop and (listen.unix or ssl is not None):
        raise ValueError("host_loop=True reads plain TCP sockets only: not with ssl or a Unix socket")
    if listen.asyncio is not None and not listen.unix and listen.asyncio.get("sock") is None:
        listen.asyncio.update(host=host, port=port)
    if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
        if not (isinstance(ssl, tuple) and len(ssl) == 2 and all(isinstance(p, str) for p in ssl)):
            raise TypeError(
                "ssl must be an ssl.SSLContext or a (certfile, keyfile) tuple of PEM file paths, "
                f"not {type(ssl).__name__}"
            )
        cert, key = ssl
    options: dict[str, Any] = dict(
        host="0.0.0.0" if host is None else host,
        port=port,
        max_frame_size=size,
        ping_interval_ms=0 if interval is None else round(interval * 1000),
        timeout_ms=2**40 if timeout is None else round(timeout * 1000),
        close_timeout_ms=2**40 if close_t is None else round(close_t * 1000),
        incoming_queue=queue,
        write_high_water=high,
        write_low_water=high // 4 if low is None else low,
        deflate=compression == "deflate",
        tls_cert=cert,
        tls_key=key,
        max_connections=_int("max_connections", max_connections, 0),
        backlog=_int("backlog", backlog, 0, 2**31 - 1),
        handshake_timeout=10.0 if open_timeout is None else _number("open_timeout", open_timeout, allow_none=False),
        process_request=process_request,
        process_response=process_response,
        select_subprotocol=select_subprotocol,
        subprotocols=None if subprotocols is None else list(subprotocols),
        origins=None if origins is None else list(origins),
        server_header=server_header,
        logger=logger,
        metrics_path=metrics_path,
        backplane=backplane,
        slow_subscriber_close=None if slow_subscriber == "drop" else slow_subscriber,
        host_loop=host_loop,
        grace=10.0 if close_t is None else close_t,
        listen=listen,
    )
    # The ranges are the core's (the same on every surface): checked now, so serve() raises them.
    _wssession.check_server_config(**{name: options[name] for name in _CORE_SETTINGS})
    return Server(None if _events is not None else handler, _events, options)


def serve_callbacks(handler: CallbackHandler, host: str | None = None, port: int | None = None, **kwargs: Any) -> Server:
    """As :func:`serve`, with a push-style callback handler (``on_message(connection, frame)``).

    The callbacks run on the engine's runtime threads holding the GIL (not on the asyncio loop),
    which skips the event loop entirely on the hot path: the fastest way to serve from Python.
    """
    if not callable(getattr(handler, "on_message", None)):
        raise TypeError("handler must have an on_message(connection, frame) method")
    return serve(lambda c: asyncio.sleep(0), host, port, _events=handler, **kwargs)


def broadcast(
    connections: Iterable[ServerConnection], message: str | bytes, raise_exceptions: bool = False
) -> None:
    """Sends ``message`` to every open connection without waiting (websockets' ``broadcast``): str as
    Text, bytes-like as Binary, framed once for all of them (and compressed once per shareable
    permessage-deflate setting) by the engine.

    Connections that are not open are skipped. A connection sending a fragmented message, or whose
    send queue is over its write limit, is skipped too: logged as a warning on its logger, or with
    ``raise_exceptions`` collected and raised as an ``ExceptionGroup`` once the others got the message.
    """
    if not isinstance(message, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
    errors: list[Exception] = []
    for conn, why in _wssession.broadcast(list(connections), message):
        exc: Exception
        if why == "fragmented":
            exc = ConcurrencyError("sending a fragmented message")
        else:
            exc = RuntimeError("failed to write message: the send queue is over its write limit")
        if raise_exceptions:
            errors.append(exc)
        else:
            conn.logger.warning("skipped broadcast: %s", exc)
    if errors:
        raise ExceptionGroup("skipped broadcast", errors)


_ = CloseReason  # re-exported by the package
