"""Echo server for the benchmarks and cross-language tests (wssession, Python).

    .venv/bin/python bench/servers/python_echo.py --port PORT [--deflate] [--callback] [--log-file PATH]

Listens on 127.0.0.1:PORT and echoes every message unchanged (text stays text, binary stays
binary); offers permessage-deflate only with --deflate; runs until SIGTERM or SIGINT.
Default: an asyncio handler (`async for message in ws: await ws.send(message)`).
--callback: the push-style callback handler (on_message runs on the engine's threads).
--host-loop: ``host_loop=True`` (the asyncio loop reads the sockets; callbacks run on the loop's thread).
--uvloop: run on uvloop's event loop instead of asyncio's.
--log-file: the server's logger (``logger=``) at INFO, writing to PATH (the bench's logging-cost row);
without it the default logger is left at logging's default level (WARNING: nothing is written).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import logging
import signal
import sys
import threading
from typing import Any

import wssession


async def echo(ws: wssession.ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


class CallbackEcho:
    """Echoes each frame back without touching the event loop (zero-copy payload).

    Backpressure: when the send queue goes over its high-water mark, reading pauses until it drains.
    A message the queue cannot take at all ("dropped": over the hard limit) is sent from the event
    loop with the waiting ``send``; messages already read behind it wait in its line (pausing stops
    reading, not the delivery of what was read), so the order is kept.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Per connection, the frames waiting behind a send the queue could not take.
        self.behind: dict[wssession.ServerConnection, collections.deque[wssession.Frame]] = {}
        self.lock = threading.Lock()  # on_message runs on the engine's threads, the sends on the loop's

    def on_message(self, conn: wssession.ServerConnection, frame: wssession.Frame) -> None:
        with self.lock:
            line = self.behind.get(conn)
            if line is not None:
                line.append(frame)
                return
        result = conn.try_send(frame)
        if result != "sent":  # "buffered" or "dropped"
            conn.pause()
            if result == "dropped":
                with self.lock:
                    self.behind[conn] = collections.deque([frame])
                self.loop.call_soon_threadsafe(self._send_later, conn)

    def _send_later(self, conn: wssession.ServerConnection) -> None:
        async def send() -> None:
            try:
                while True:
                    with self.lock:
                        line = self.behind[conn]
                        if not line:
                            del self.behind[conn]
                            return
                        frame = line.popleft()
                    await conn.send(frame)
            finally:
                with self.lock:
                    self.behind.pop(conn, None)
                conn.resume()

        asyncio.ensure_future(send())

    def on_drain(self, conn: wssession.ServerConnection) -> None:
        conn.resume()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--callback", action="store_true", help="use the callback handler")
    parser.add_argument("--host-loop", action="store_true", help="serve with host_loop=True")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--log-file", help="log the server's records at INFO to this file")
    args = parser.parse_args()

    options: dict[str, Any] = dict(
        compression="deflate" if args.deflate else None,
        max_size=16 * 2**20,
        ping_interval=None,
        write_limit=2**20,  # the core's default high-water mark; 2 MiB hard limit for try_send
    )
    if args.host_loop:
        options["host_loop"] = True
    if args.log_file:
        logger = logging.getLogger("bench.echo")
        logger.setLevel(logging.INFO)
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        options["logger"] = logger
    if args.callback:
        server_cm = wssession.serve_callbacks(CallbackEcho(asyncio.get_running_loop()), "127.0.0.1", args.port, **options)
    else:
        server_cm = wssession.serve(echo, "127.0.0.1", args.port, **options)
    async with server_cm as server:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.close)
        print(f"python echo server on 127.0.0.1:{server.port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    if "--uvloop" in sys.argv[1:]:
        importlib.import_module("uvloop").run(main())
    else:
        asyncio.run(main())
