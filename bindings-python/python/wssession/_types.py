"""Pure-Python pieces the native module uses: State, the default JSON converter, helpers."""

from __future__ import annotations

import asyncio
import codecs
import enum
import json
import logging
from typing import TYPE_CHECKING, Any, AsyncIterable, AsyncIterator

if TYPE_CHECKING:
    from ._wssession import ServerConnection
    from .http11 import Response

__all__ = [
    "State",
    "JsonConverter",
    "JSON",
    "send_async_fragments",
    "send_when_free",
    "recv_streaming",
    "connection_logger",
    "handshake_response",
]


class State(enum.IntEnum):
    """A connection's state (websockets' ``State``)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class JsonConverter:
    """The default converter: ``json.dumps`` to a Text frame, ``json.loads`` from Text or Binary."""

    def dumps(self, obj: Any) -> str:
        """Encodes ``obj`` as JSON text."""
        return json.dumps(obj, separators=(",", ":"))

    def loads(self, data: str | bytes) -> Any:
        """Decodes JSON text or UTF-8 bytes."""
        return json.loads(data)

    def __repr__(self) -> str:
        return "JsonConverter()"


#: The shared default converter.
JSON = JsonConverter()


async def recv_streaming(conn: ServerConnection, decode: bool | None) -> AsyncIterator[str | bytes]:
    """Yields the next message one frame at a time, as the client sent them (websockets'
    ``recv_streaming``); text is decoded incrementally, so a character split across frames comes
    whole with the later piece."""
    decoder: codecs.IncrementalDecoder | None = None
    while True:
        data, text, fin = await conn._recv_piece()
        if decode is None:
            decode = text
        if decode:
            if decoder is None:
                decoder = codecs.getincrementaldecoder("utf-8")()
            yield decoder.decode(data, fin)
        else:
            yield data
        if fin:
            return


async def send_async_fragments(
    conn: ServerConnection, fragments: AsyncIterable[str | bytes], text: bool | None = None
) -> None:
    """Sends an async iterable of fragments as one fragmented message (``text`` forces the opcode).

    As in websockets, a message that cannot be completed (a fragment of another type, or the
    iterator failing once it started) closes the connection with 1011, then the error is raised."""
    from ._wssession import Frame

    prev: str | bytes | None = None
    kind = 0
    opcode = 0
    started = False
    while (busy := conn.__dict__.get("_ws_fragmenting")) is not None:
        await asyncio.shield(busy)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    conn.__dict__["_ws_fragmenting"] = done
    conn._fragmenting(True)
    try:
        async for frag in fragments:
            started = True
            if isinstance(frag, str):
                this = 1
            elif isinstance(frag, (bytes, bytearray, memoryview)):
                this = 2
            else:
                raise TypeError(f"a message fragment must be str or bytes-like, not {type(frag).__name__}")
            if kind and this != kind:
                raise TypeError("all fragments of a message must be of the same type (str or bytes)")
            if not kind:
                kind = this
                opcode = this if text is None else (1 if text else 2)
            if prev is not None:
                await conn.outgoing.send(Frame(opcode, prev, fin=False))
            prev = frag
        if prev is not None:
            await conn.outgoing.send(Frame(opcode, prev, fin=True))
    except Exception:
        if started:
            if prev is not None and opcode:
                conn.try_send(Frame(opcode, prev, fin=False))
            await conn.close(1011, "error in fragmented message")
        raise
    finally:
        conn._fragmenting(False)
        del conn.__dict__["_ws_fragmenting"]
        done.set_result(None)


async def send_when_free(conn: ServerConnection, message: Any, text: bool | None) -> None:
    """``send`` while a fragmented message is in progress: waits until it is complete, then sends."""
    while (busy := conn.__dict__.get("_ws_fragmenting")) is not None:
        await asyncio.shield(busy)
    await conn.send(message, text)


def connection_logger(conn: ServerConnection) -> logging.LoggerAdapter[Any]:
    """``conn.logger``: the server's logger with ``{"websocket": conn}`` as extra (made once)."""
    cached: logging.LoggerAdapter[Any] | None = conn.__dict__.get("_ws_logger")
    if cached is None:
        server = conn.server
        base = getattr(server, "logger", None) or logging.getLogger("wssession.server")
        cached = logging.LoggerAdapter(base, {"websocket": conn})
        conn.__dict__["_ws_logger"] = cached
    return cached


def handshake_response(conn: ServerConnection) -> Response:
    """``conn.response``: the 101 the connection was opened with (made once, from the request, the
    negotiated values and the headers added by ``server_header``/``process_response``)."""
    from ._wssession import Headers, accept_key
    from .http11 import Response

    cached: Response | None = conn.__dict__.get("_ws_response")
    if cached is None:
        request = conn.request
        headers = Headers([("Upgrade", "websocket"), ("Connection", "Upgrade")])
        key = request.headers.get("Sec-WebSocket-Key")
        if key is not None:
            headers["Sec-WebSocket-Accept"] = accept_key(key)
        if conn.subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = conn.subprotocol
        if request.extensions:
            headers["Sec-WebSocket-Extensions"] = request.extensions
        extra: list[tuple[str, str]] | None = conn.__dict__.get("_ws_extra_headers")
        if extra is None:
            extra = getattr(conn.server, "_extra_headers", [])
        for name, value in extra:
            headers[name] = value
        cached = Response(101, "Switching Protocols", headers)
        conn.__dict__["_ws_response"] = cached
    return cached
