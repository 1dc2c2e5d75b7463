"""websockets (asyncio API) echo server: --port N [--deflate] [--uvloop]."""

import argparse
import asyncio

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def echo(ws) -> None:
    """Send every message back unchanged."""
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass  # the client closed with echoes in flight: normal at the end of a run


async def main(port: int, deflate: bool) -> None:
    """Serve until killed."""
    async with serve(
        echo,
        "127.0.0.1",
        port,
        compression="deflate" if deflate else None,
        max_size=None,
        ping_interval=None,
        backlog=4096,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--deflate", action="store_true")
    p.add_argument("--uvloop", action="store_true")
    a = p.parse_args()
    if a.uvloop:
        import uvloop

        uvloop.run(main(a.port, a.deflate))
    else:
        asyncio.run(main(a.port, a.deflate))
