"""aiohttp echo server: --port N [--deflate]."""

import argparse

from aiohttp import WSMsgType, web


def make_app(deflate: bool) -> web.Application:
    """One route, '/', that echoes every message."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=deflate, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    return app


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--deflate", action="store_true")
    a = p.parse_args()
    web.run_app(make_app(a.deflate), host="127.0.0.1", port=a.port, backlog=4096, print=None)
