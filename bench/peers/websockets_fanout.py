"""websockets fan-out server (websockets.broadcast): --port N [--uvloop].

A connection to /sub/<topic> joins a set per topic; each message from /pub is sent with
websockets.broadcast() to every member of the topic named by its text up to the first space.
"""

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

ROOMS: dict[str, set[ServerConnection]] = {}


async def handler(ws: ServerConnection) -> None:
    """Subscribers wait for the end; the publisher's messages are broadcast."""
    path = ws.request.path if ws.request else "/"
    if path.startswith("/sub/"):
        room = ROOMS.setdefault(path[5:], set())
        room.add(ws)
        try:
            await ws.wait_closed()
        finally:
            room.discard(ws)
        return
    try:
        async for msg in ws:
            text = msg if isinstance(msg, str) else msg.decode("latin-1")
            end = text.find(" ")
            topic = text if end < 0 else text[:end]
            room = ROOMS.get(topic)
            if room:
                broadcast(room, msg)
    except ConnectionClosed:
        pass


async def main(port: int) -> None:
    """Serve until killed."""
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=None,
                     ping_interval=None, backlog=4096) as server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--uvloop", action="store_true")
    a = p.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(main(a.port))
    else:
        asyncio.run(main(a.port))
