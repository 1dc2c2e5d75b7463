"""The README's Python quick start (an echo server), on 127.0.0.1 and the port given as argv[1]
(0: any free one). Prints "listening on port N" once it accepts connections."""

import asyncio
import sys

import wssession as websockets  # was: import websockets


async def echo(websocket: websockets.ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main(port: int) -> None:
    async with websockets.serve(echo, "127.0.0.1", port) as server:
        print(f"listening on port {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
