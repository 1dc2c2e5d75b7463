"""Pure-Python pieces the native module uses: State, the default JSON converter, helpers."""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any, AsyncIterable, AsyncIterator

if TYPE_CHECKING:
    from ._wssession import ServerConnection

__all__ = ["State", "JsonConverter", "JSON", "send_async_fragments", "recv_streaming"]


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
    """Yields the next message in pieces (websockets' ``recv_streaming``): the engine reassembles
    fragments before handing a message over, so the whole message comes as one piece."""
    yield await conn.recv(decode)


async def send_async_fragments(conn: ServerConnection, fragments: AsyncIterable[str | bytes]) -> None:
    """Sends an async iterable of fragments as one fragmented message."""
    from ._wssession import Frame

    prev: str | bytes | None = None
    opcode = 0
    async for frag in fragments:
        if isinstance(frag, str):
            kind = 1
        elif isinstance(frag, (bytes, bytearray, memoryview)):
            kind = 2
        else:
            raise TypeError(f"a message fragment must be str or bytes-like, not {type(frag).__name__}")
        if opcode and kind != opcode:
            raise TypeError("all fragments of a message must be of the same type (str or bytes)")
        opcode = kind
        if prev is not None:
            await conn.outgoing.send(Frame(opcode, prev, fin=False))
        prev = frag
    if prev is not None:
        await conn.outgoing.send(Frame(opcode, prev, fin=True))
