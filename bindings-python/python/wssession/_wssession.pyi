"""The native half of wssession (pyo3): connection, frames, requests and the server handle.

Use the public API re-exported by ``wssession``; this module is an implementation detail.
"""

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator
import logging
from typing import Any, final

from ._types import State
from .http11 import Response
from .server import CallbackHandler

__all__ = [
    "BytePump",
    "DeflateParams",
    "Handshake",
    "UpgradedConnection",
    "CloseReason",
    "Frame",
    "Headers",
    "Incoming",
    "LoopWaker",
    "Waiter",
    "Outgoing",
    "Position",
    "Published",
    "Ready",
    "RecvAwait",
    "Request",
    "Resolver",
    "ServerConnection",
    "ServerHandle",
    "start_server",
    "check_server_config",
    "accept_key",
    "broadcast",
    "_finalize",
    "__version__",
]

#: The workspace version (Cargo.toml), e.g. "0.1.0".
__version__: str

_Message = str | bytes | bytearray | memoryview

@final
class Frame:
    """A WebSocket frame: a complete incoming message, or an outgoing frame or fragment."""

    def __new__(
        cls,
        opcode: int,
        data: _Message | None = None,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> Frame:
        """A frame with ``opcode`` (1 text, 2 binary, 9 ping, 10 pong) and ``data``."""
    @staticmethod
    def text(data: str) -> Frame:
        """A complete Text message."""
    @staticmethod
    def binary(data: bytes | bytearray | memoryview) -> Frame:
        """A complete Binary message."""
    @property
    def opcode(self) -> int:
        """The wire opcode: 1 text, 2 binary, 8 close, 9 ping, 10 pong."""
    @property
    def frame_type(self) -> str:
        """The frame type name: "text", "binary", "ping", "pong" or "close"."""
    @property
    def data(self) -> bytes:
        """The payload as bytes (for a text frame, its UTF-8 encoding)."""
    @property
    def text_data(self) -> str:
        """The payload decoded as UTF-8."""
    @property
    def fin(self) -> bool:
        """Whether this is the last frame of its message (always True for incoming messages)."""
    @property
    def rsv1(self) -> bool:
        """RSV1 (outgoing: ask for compression when permessage-deflate is on)."""
    @property
    def rsv2(self) -> bool:
        """RSV2 (always False)."""
    @property
    def rsv3(self) -> bool:
        """RSV3 (always False)."""
    def __len__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class CloseReason:
    """How a session ended: ``code``, ``reason`` and ``initiator`` ("local", "remote" or "abnormal")."""

    @property
    def code(self) -> int:
        """The close code (1005: the peer's Close had none; 1006: no Close at all)."""
    @property
    def reason(self) -> str:
        """The close reason text (may be empty)."""
    @property
    def initiator(self) -> str:
        """Who ended the session: "local", "remote" or "abnormal"."""
    @property
    def violation(self) -> str | None:
        """What the peer did wrong when the session failed because of it ("unmasked", "too_big", ...)."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Ready:
    """An awaitable whose result is already known: awaiting it never suspends."""

    def __await__(self) -> Ready: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> Any: ...
    def send(self, _value: Any, /) -> Any:
        """Finishes with the result (the value is ignored)."""

@final
class Headers:
    """HTTP headers: repeated names kept in order, case-insensitive lookups (websockets' ``Headers``)."""

    def __new__(cls, items: Any = None) -> Headers:
        """Headers from a mapping, an iterable of (name, value) pairs, or nothing."""
    def __getitem__(self, key: str, /) -> str:
        """The value of ``name``; KeyError if absent (the first one if repeated)."""
    def __setitem__(self, key: str, value: str, /) -> None:
        """Appends a header (repeated names are kept)."""
    def __delitem__(self, key: str, /) -> None:
        """Removes every header called ``name``."""
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, name: str, default: Any = None) -> Any:
        """The first value of ``name``, or ``default``."""
    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
    def raw_items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in order."""
    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in order."""
    def copy(self) -> Headers:
        """A copy."""

@final
class Request:
    """The HTTP upgrade request a session was opened with (websockets' ``Request``, Ktor's ``call``)."""

    @staticmethod
    def parse(
        data: bytes,
        remote_address: tuple[str, int] = ...,
        local_address: tuple[str, int] = ...,
    ) -> tuple[Request, int] | None:
        """Parses an HTTP request head: ``(request, head_length)``, or None while incomplete."""
    @property
    def path(self) -> str:
        """The request path including the query string ("/chat?room=1"), as in websockets."""
    @property
    def path_without_query(self) -> str:
        """The request path without the query string ("/chat"), as Ktor's ``call.request.path()``."""
    @property
    def target(self) -> str:
        """The request target as sent ("/chat?room=1")."""
    @property
    def query(self) -> str | None:
        """The query string without "?", or None."""
    @property
    def method(self) -> str:
        """The HTTP method ("GET")."""
    @property
    def headers(self) -> Headers:
        """The request headers."""
    @property
    def remote_address(self) -> tuple[str, int]:
        """The peer's (host, port)."""
    @property
    def local_address(self) -> tuple[str, int]:
        """Our (host, port) the peer connected to."""
    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS."""
    @property
    def subprotocol(self) -> str | None:
        """The subprotocol chosen for the session, if any."""
    @property
    def extensions(self) -> str:
        """The negotiated Sec-WebSocket-Extensions value ("" when none)."""
    @property
    def offered_subprotocols(self) -> list[str]:
        """Subprotocols the client offered, in its order."""

@final
class RecvAwait:
    """A pending receive; awaiting it drains many queued messages per wake-up."""

    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> RecvAwait: ...
    def __next__(self) -> Any: ...
    def send(self, _value: Any, /) -> Any:
        """Resumes the receive (the value is ignored)."""
    def throw(self, *args: Any) -> Any:
        """Abandons the receive, raising the exception."""
    def close(self) -> None:
        """Abandons the receive."""

@final
class Incoming:
    """The incoming messages as Frame objects (Ktor's ``incoming``); ends at a clean close."""

    def __aiter__(self) -> Incoming: ...
    def __anext__(self) -> Awaitable[Frame]: ...
    def receive(self) -> Awaitable[Frame]:
        """The next message as a Frame; raises ConnectionClosed at the end."""

@final
class Outgoing:
    """The send side as an object (Ktor's ``outgoing``)."""

    def send(self, frame: Frame | _Message) -> Awaitable[None]:
        """Sends a Frame (or a str/bytes message); waits only while the queue is over its limit."""
    def try_send(self, frame: Frame | _Message) -> str:
        """Queues without waiting: "sent", "buffered" or "dropped"."""
    def close(self) -> None:
        """Closes the send side: the same as ``close(1000)`` without waiting."""

@final
class ServerConnection:
    """A WebSocket connection on the server: websockets' ``ServerConnection`` plus Ktor's session members."""

    def recv(self, decode: bool | None = None) -> Awaitable[Any]:
        """Receives the next message: str for Text, bytes for Binary (``decode`` forces one or the other).

        Raises ConnectionClosedOK/ConnectionClosedError once the connection is closed."""
    def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Any]:
        """Receives the next message in pieces (websockets' ``recv_streaming``): one item per frame,
        as the client sent them."""
    def _recv_piece(self) -> Awaitable[tuple[bytes, bool, bool]]:
        """One frame of the message in progress: (data, is_text, fin); used by ``recv_streaming``."""
    def __aiter__(self) -> ServerConnection: ...
    def __anext__(self) -> Awaitable[Any]: ...
    def send(self, message: Any, text: bool | None = None) -> Awaitable[None]:
        """Sends str (Text), bytes-like (Binary), a Frame, or a (async) iterable of fragments;
        ``text`` forces Text (True) or Binary (False)."""
    def close(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]:
        """Starts the closing handshake (default 1000) and waits until the connection is closed."""
    def wait_closed(self) -> Awaitable[CloseReason]:
        """Waits until the connection is closed; returns how it ended."""
    def ping(self, data: _Message | None = None) -> Awaitable[Awaitable[float]]:
        """Sends a Ping; returns an awaitable resolving with the round-trip time (s) when the Pong arrives."""
    def pong(self, data: _Message | None = None) -> Awaitable[None]:
        """Sends an unsolicited Pong."""
    @property
    def latency(self) -> float:
        """Round-trip time of the last matched Ping/Pong, in seconds (0.0 before any)."""
    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed, else None."""
    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed, else None."""
    @property
    def request(self) -> Request:
        """The upgrade request (path, headers, ...)."""
    @property
    def call(self) -> Request:
        """The upgrade request (Ktor's ``call``)."""
    @property
    def remote_address(self) -> tuple[str, int]:
        """The peer's (host, port)."""
    @property
    def local_address(self) -> tuple[str, int]:
        """Our (host, port)."""
    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or None."""
    @property
    def id(self) -> uuid.UUID:
        """A unique identifier of the connection (a random UUID, as in websockets)."""
    @property
    def session_id(self) -> int:
        """The engine's session number, unique within the process."""
    @property
    def logger(self) -> logging.LoggerAdapter[Any]:
        """The server's logger with ``{"websocket": connection}`` as extra."""
    @property
    def response(self) -> Response:
        """The handshake response (101) the connection was opened with."""
    @property
    def state(self) -> State:
        """The connection state."""
    @property
    def incoming(self) -> Incoming:
        """The incoming messages as Frame objects (Ktor's ``incoming``)."""
    @property
    def outgoing(self) -> Outgoing:
        """The send side as an object (Ktor's ``outgoing``)."""
    def flush(self) -> Awaitable[None]:
        """Waits until every frame queued so far has been written to the socket."""
    def terminate(self) -> None:
        """Aborts now: no Close frame, the socket is shut, the close code is 1006."""
    @property
    def close_reason_future(self) -> Awaitable[CloseReason]:
        """An awaitable resolving with the CloseReason when the session ends (Ktor's ``closeReason``)."""
    def try_send(self, message: Frame | _Message | Iterable[_Message]) -> str:
        """Queues a message without waiting: "sent", "buffered" or "dropped"."""
    masking: bool
    """Whether outgoing frames are masked (off by default; browsers reject masked server frames)."""
    max_frame_size: int
    """Limit in bytes on a frame, a message and an inflated message."""
    ping_interval_millis: int
    """Pinger period in milliseconds (0 = off); setting it restarts the pinger."""
    ping_interval: float | None
    """Pinger period in seconds (None = off); setting it restarts the pinger."""
    timeout_millis: int
    """How long the pinger waits for the Pong, in milliseconds."""
    timeout: float | None
    """How long the pinger waits for the Pong, in seconds."""
    close_timeout: float | None
    """Bound on the closing handshake, in seconds."""
    close_timeout_millis: int
    """Bound on the closing handshake, in milliseconds."""
    @property
    def buffered_amount(self) -> int:
        """Bytes queued for writing and not yet handed to the socket."""
    @property
    def server(self) -> Any:
        """The ``wssession.Server`` that accepted this connection."""
    @property
    def application(self) -> Any:
        """The server that accepted this connection (Ktor's ``application``)."""
    converter: Any
    """An object with ``dumps`` and ``loads`` (JSON by default), or None."""
    def send_serialized(self, obj: Any) -> Awaitable[None]:
        """Encodes ``obj`` with the converter (str → Text, bytes → Binary) and sends it."""
    def receive_deserialized(self) -> Awaitable[Any]:
        """Receives the next message and decodes it with the converter; DeserializeError carries the frame."""
    @property
    def stats(self) -> dict[str, int]:
        """Traffic counters: messages_in, bytes_in, messages_out, bytes_out."""
    def subscribe(self, topic: str) -> bool:
        """Subscribes to ``topic``: True if newly subscribed, False if it already was."""
    def unsubscribe(self, topic: str) -> bool:
        """Unsubscribes from ``topic``: False if it was not subscribed."""
    def is_subscribed(self, topic: str) -> bool:
        """Whether the connection is subscribed to ``topic``."""
    def subscriptions(self) -> list[str]:
        """The topics the connection is subscribed to, sorted (none once it is closed)."""
    def publish(self, topic: str, message: _Message, text: bool | None = None) -> Published:
        """Publishes ``message`` to every subscriber of ``topic`` but this connection, without waiting."""
    def publish_positioned(self, topic: str, message: _Message, text: bool | None = None) -> Awaitable[Position]:
        """Publishes through a Redis history to every subscriber of ``topic`` but this connection;
        resolves with the message's `Position` once the broker placed it."""
    def subscribe_from(self, topic: str, since: Position | str) -> Awaitable[Position | None]:
        """Subscribes to ``topic`` after first sending every message published after ``since`` (a
        `Position` or its str), in order, none missing or repeated; resolves with the last one's
        position (None when the topic has no history yet). RecoveryError (``reason``) when that is
        impossible: the connection is then not subscribed."""
    def pause(self) -> None:
        """Stops reading the socket (TCP backpressure) until ``resume()``."""
    def resume(self) -> None:
        """Resumes reading after ``pause()``."""
    def _host_watch(self) -> bool:
        """With ``serve(host_loop=True)``: the running loop starts (or resumes) watching the socket;
        False for a connection the engine reads, or whose reads are over."""
    def _host_read(self) -> None:
        """The loop's reader callback (``host_loop=True``): reads and delivers what the socket holds."""
    @property
    def _handshake_state(self) -> dict[str, Any] | None:
        """Attributes set on the connection in process_request, handed over by the accept hook."""
    def _fragmenting(self, on: bool) -> None:
        """Marks a fragmented message from an async iterable as in progress (other sends wait)."""
    def _handler_done(self, error: str | None = None) -> None:
        """Reports the Python handler's outcome (None: returned → 1000; a message: raised → 1011)."""

@final
class ServerHandle:
    """A running server (the Rust side of ``wssession.Server``)."""

    @property
    def port(self) -> int:
        """The bound port."""
    @property
    def local_address(self) -> tuple[str, int]:
        """The bound (host, port)."""
    @property
    def is_ipv6(self) -> bool:
        """Whether the bound address is IPv6."""
    def close(self) -> None:
        """Stops accepting new connections (open sessions continue)."""
    def shutdown(self, grace: float, code: int = 1001, reason: str = ...) -> Awaitable[None]:
        """Stops accepting, sends Close ``code``/``reason`` to every session, waits up to ``grace``
        seconds, then shuts the rest."""
    def wait(self) -> Awaitable[None]:
        """Completes when the listener has closed."""
    @property
    def is_closed(self) -> bool:
        """Whether the listener has closed."""
    @property
    def session_count(self) -> int:
        """Number of open sessions."""
    @property
    def connection_count(self) -> int:
        """Number of connections handshaking or open."""
    def adopt_fd(self, fd: int) -> None:
        """Serves a TCP or Unix stream socket the host accepted; the engine owns ``fd`` from here."""
    def adopt_pump(self, remote: tuple[str, int], local: tuple[str, int], tls: bool) -> BytePump:
        """Serves a connection whose bytes the host carries; returns the pump."""
    def handshake_response(self, request: Request) -> Handshake:
        """The 101 this server answers ``request`` with, for a host that writes it itself."""
    def upgraded(
        self, fd: int, request: Request, handshake: Handshake, leftover: bytes = ...
    ) -> UpgradedConnection:
        """A connection the host upgraded; nothing runs until ``start(negotiated)``."""

    def publish(self, topic: str, message: _Message, text: bool | None = None) -> Published:
        """Publishes ``message`` to every subscriber of ``topic``, without waiting."""
    def publish_positioned(self, topic: str, message: _Message, text: bool | None = None) -> Awaitable[Position]:
        """Publishes through a Redis history; resolves with the message's `Position` once the broker
        placed it (RecoveryError without a history, BackplaneError when the broker cannot take it)."""
    def subscriber_count(self, topic: str) -> int:
        """How many connections are subscribed to ``topic``."""
    def topics(self) -> list[str]:
        """Every topic with at least one subscriber, sorted."""
    def stats(self) -> dict[str, Any]:
        """Server-wide figures since the server started, as one snapshot."""
    def metrics(self) -> str:
        """The figures in the Prometheus (OpenMetrics) text format."""

@final
class Published:
    """What a publish did: subscribers it was queued to, skipped (over their write limit) or closed."""

    @property
    def delivered(self) -> int:
        """Subscribers the message was queued to."""
    @property
    def dropped(self) -> int:
        """Subscribers it was skipped for: over their write limit (``slow_subscriber="drop"``), or in the
        middle of sending a fragmented message."""
    @property
    def closed(self) -> int:
        """Subscribers closed for being over their write limit (``slow_subscriber=CODE``)."""

@final
class Position:
    """A message's place in its topic's history: ``offset`` (one more per publish) in ``epoch`` (the
    history it counts in). ``str(position)`` is ``"<offset>:<epoch>"``, the form clients see with
    ``positions=1``; ``Position.parse`` reads it back."""

    def __new__(cls, offset: int, epoch: str) -> Position: ...
    @staticmethod
    def parse(text: str) -> Position:
        """Reads ``"<offset>:<epoch>"`` (InvalidArgumentError if it is not one)."""
    @property
    def offset(self) -> int:
        """1 for the first message of the epoch, one more for each publish after it."""
    @property
    def epoch(self) -> str:
        """Names the history the offset counts in; changes when the history is lost."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BytePump:
    """The host's end of a connection whose bytes asyncio carries."""

    def try_push(self, data: bytes) -> int:
        """Hands over what fits of ``data`` now; returns how many bytes that was."""
    def push(self, data: bytes) -> Awaitable[None]:
        """Hands over ``data``, waiting while the engine's buffer is full."""
    def pull(self, max: int) -> Awaitable[bytes | None]:
        """The next bytes to write; None once the session has finished writing."""
    def end(self) -> None:
        """The stream ended (the peer's EOF)."""
    def fail(self) -> None:
        """The stream failed or was lost."""

@final
class DeflateParams:
    """permessage-deflate parameters negotiated in a handshake."""

    @property
    def extension(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value of the response."""

@final
class Handshake:
    """The 101 a server answers an upgrade request with, for a host that writes it itself."""

    @property
    def accept_key(self) -> str:
        """The ``Sec-WebSocket-Accept`` value."""
    @property
    def subprotocol(self) -> str | None:
        """The chosen subprotocol, or None."""
    @property
    def negotiated(self) -> DeflateParams | None:
        """The negotiated permessage-deflate parameters (give them to ``start``), or None."""
    @property
    def headers(self) -> list[tuple[str, str]]:
        """Every header of the 101, in order."""
    def to_bytes(self) -> bytes:
        """The whole 101 response as bytes."""

@final
class UpgradedConnection:
    """A connection the host upgraded and handed over: nothing runs until ``start``."""

    def start(self, negotiated: DeflateParams | None = None) -> None:
        """Starts the session with the negotiated extensions (Ktor's ``start``); exactly once."""
    def terminate(self) -> None:
        """Aborts the connection without starting it."""

@final
class Resolver:
    """The accept hook's answer channel, handed to Python with the request."""

    def accept(
        self,
        subprotocol: str | None = None,
        state: dict[str, Any] | None = None,
        headers: list[tuple[str, str]] = ...,
    ) -> None:
        """Accepts the upgrade with ``subprotocol`` (or none); ``state`` is handed to the connection;
        ``headers`` are added to the 101."""
    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Answers with an HTTP response instead of upgrading."""

@final
class LoopWaker:
    """One per event loop: watched with ``loop.add_reader(waker.fileno(), waker.run)``."""

    def __init__(self) -> None: ...
    def fileno(self) -> int:
        """The descriptor the loop watches for reading."""
    def run(self) -> None:
        """Resolves the parked receives queued since the last run (the loop's reader callback)."""

@final
class Waiter:
    """A parked receive, as the asyncio-compatible future its task waits on."""

    _asyncio_future_blocking: bool
    def get_loop(self) -> Any:
        """The event loop the waiter belongs to."""
    def add_done_callback(self, callback: Callable[[Waiter], object], *, context: Any = None) -> None:
        """Runs ``callback(waiter)`` once done."""
    def remove_done_callback(self, callback: Callable[[Waiter], object]) -> int:
        """Removes every registration of ``callback``; returns how many there were."""
    def done(self) -> bool:
        """Whether the waiter is done (resumed or cancelled)."""
    def cancelled(self) -> bool:
        """Whether the waiter was cancelled."""
    def result(self) -> None:
        """None once resumed; CancelledError if cancelled."""
    def exception(self) -> None:
        """None once resumed; CancelledError if cancelled."""
    def cancel(self, msg: Any = None) -> bool:
        """Cancels a pending waiter; False once done."""

def start_server(
    *,
    host: str,
    port: int,
    call_soon: Callable[..., Any],
    waker: LoopWaker | None = None,
    on_session: Callable[[ServerConnection], None] | None = None,
    on_accept: Callable[[Request, Resolver], None] | None = None,
    events: CallbackHandler | None = None,
    app: Any = None,
    max_frame_size: int = 1048576,
    ping_interval_ms: int = 20000,
    timeout_ms: int = 20000,
    close_timeout_ms: int = 10000,
    incoming_queue: int = 16,
    write_high_water: int = 32768,
    write_low_water: int = 8192,
    deflate: bool = True,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    max_connections: int = 100000,
    backlog: int = 1024,
    handshake_timeout: float = 10.0,
    response_headers: list[tuple[str, str]] = ...,
    detached: bool = False,
    listener_fd: int | None = None,
    reuse_port: bool = False,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    log_level: int = 30,
    metrics_path: str | None = None,
    backplane: str | None = None,
    slow_subscriber_close: int | None = None,
    host_loop: bool = False,
) -> Awaitable[ServerHandle]:
    """Starts a server; resolves with a ServerHandle. Use ``wssession.serve`` instead."""

def broadcast(
    connections: Iterable[ServerConnection], message: _Message, text: bool | None = None
) -> list[tuple[ServerConnection, str]]:
    """Sends ``message`` to each open connection without waiting, framed once; returns those it could
    not be queued to, with why: "fragmented" or "full". Use ``wssession.broadcast`` instead."""

def check_server_config(
    *,
    host: str,
    port: int,
    max_frame_size: int = 1048576,
    ping_interval_ms: int = 20000,
    timeout_ms: int = 20000,
    close_timeout_ms: int = 10000,
    incoming_queue: int = 16,
    write_high_water: int = 32768,
    write_low_water: int = 8192,
    deflate: bool = True,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    max_connections: int = 100000,
    backlog: int = 1024,
    handshake_timeout: float = 10.0,
    metrics_path: str | None = None,
    host_loop: bool = False,
) -> None:
    """Checks ``serve``'s settings with the core's rules (InvalidArgumentError, a ValueError, names the
    first one out of range); starts nothing."""

def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key``."""

def _finalize() -> None:
    """Called at interpreter exit: from then on the engine's threads no longer call into Python."""
