"""wssession fan-out server for the topics benchmark (Python, ``server.publish``): --port N.

A connection to /sub/<topic> subscribes to <topic>; each message a connection to /pub sends is
published with ``server.publish`` to the topic named by its text up to the first space.
"""

from __future__ import annotations

import argparse
import asyncio

import wssession


async def main(port: int) -> None:
    """Serve until killed."""

    async def handler(ws: wssession.ServerConnection) -> None:
        path = ws.request.path
        if path.startswith("/sub/"):
            ws.subscribe(path[5:])
            await ws.wait_closed()
            return
        async for msg in ws:
            data = msg.encode() if isinstance(msg, str) else msg
            end = data.find(b" ")
            server.publish((data if end < 0 else data[:end]).decode("latin-1"), msg)

    # The send-queue limit as uWebSockets.js's maxBackpressure in bench/peers/uws_fanout.js (64 MiB).
    async with wssession.serve(handler, "127.0.0.1", port, compression=None, max_size=None,
                               ping_interval=None, backlog=4096, write_limit=64 * 2**20) as server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    asyncio.run(main(p.parse_args().port))
