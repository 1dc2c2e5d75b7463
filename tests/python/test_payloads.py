"""Large payloads and lazily built requests: what crosses the binding without copies still reads right."""

from __future__ import annotations

import array
import gc
import os

from websockets.asyncio.client import connect

import wssession
from conftest import Box, running, within


async def test_large_bytes_and_str_sent_without_a_copy_arrive_intact_after_the_caller_drops_them() -> None:
    payloads: list[str | bytes] = [os.urandom(256 * 1024), "é" * 100_000, b"small", "x" * 5000]

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.recv()
        for p in payloads:
            # A fresh object per send, dropped at once: the frame keeps what it references alive.
            await ws.send(p[:] if isinstance(p, bytes) else "".join([p]))
            gc.collect()
        await ws.wait_closed()

    async with running(handler) as (_, url):
        async with connect(url, max_size=None) as client:
            await client.send("go")
            assert [await within(client.recv()) for _ in payloads] == payloads


async def test_memoryviews_are_sent_as_their_bytes_whatever_their_item_format() -> None:
    ints = array.array("i", range(1000))
    views = [memoryview(os.urandom(70_000)), memoryview(ints), memoryview(b"abcdef")[1:4]]

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.recv()
        for v in views:
            await ws.send(v)
        await ws.wait_closed()

    async with running(handler) as (_, url):
        async with connect(url, max_size=None) as client:
            await client.send("go")
            assert [await within(client.recv()) for _ in views] == [v.tobytes() for v in views]


async def test_request_and_headers_made_on_first_use_read_the_upgrade_request() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        first = ws.request
        got.put(
            (
                first is ws.request,
                first.headers is first.headers,
                first.path,
                first.headers["X-Custom"],
                first.headers.get_all("x-repeated"),
                ws.request.headers["user-agent"].startswith("Python"),
            )
        )
        await ws.wait_closed()

    async with running(handler) as (_, url):
        headers = [("X-Custom", "yes"), ("X-Repeated", "1"), ("X-Repeated", "2")]
        async with connect(url + "/room?x=1", additional_headers=headers):
            assert await got.get() == (True, True, "/room?x=1", "yes", ["1", "2"], True)
