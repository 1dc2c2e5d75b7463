"""``serve(host_loop=True)``: the asyncio loop reads each connection's socket (no engine-thread hop)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest
from websockets.asyncio.client import connect

import wssession
from conftest import Box, running, within


class LoopEcho:
    """Echoes every frame and records the threads its callbacks ran on."""

    def __init__(self) -> None:
        self.threads: set[str] = set()

    def on_open(self, conn: wssession.ServerConnection) -> None:
        self.threads.add(threading.current_thread().name)

    def on_message(self, conn: wssession.ServerConnection, frame: wssession.Frame) -> None:
        self.threads.add(threading.current_thread().name)
        conn.try_send(frame)


async def test_callbacks_run_on_the_loop_thread_with_host_loop() -> None:
    echo = LoopEcho()
    async with wssession.serve_callbacks(echo, "127.0.0.1", 0, host_loop=True) as server:
        async with connect(f"ws://127.0.0.1:{server.port}") as client:
            for m in ("text", b"bin", "x" * 20_000):
                await client.send(m)
                assert await within(client.recv()) == m
    assert threading.current_thread().name in echo.threads


# Run in a child process: a deadlock would hang the loop thread inside the extension holding the
# GIL, where no timeout of this process can interrupt it; the child is killed instead.
SPEAKS_FIRST = """
import asyncio, threading
from websockets.asyncio.client import connect
import wssession

opened = []

class Greeted:
    def on_open(self, conn):
        # On an engine thread, holding the session's callback lock, while the loop thread may
        # already be reading this client's first message.
        opened.append(threading.current_thread().name)

    def on_message(self, conn, frame):
        conn.try_send(frame)

async def main():
    async with wssession.serve_callbacks(Greeted(), "127.0.0.1", 0, host_loop=True) as server:
        for i in range(50):
            async with connect(f"ws://127.0.0.1:{server.port}") as client:
                await client.send(str(i))
                assert await client.recv() == str(i)
    assert len(opened) == 50 and threading.current_thread().name not in opened, opened
    print("served 50")

asyncio.run(main())
"""


def test_a_client_that_speaks_first_is_served_while_on_open_runs_on_an_engine_thread() -> None:
    try:
        done = subprocess.run([sys.executable, "-c", SPEAKS_FIRST], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("the server deadlocked: on_open on an engine thread and the loop's read both stuck")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "served 50"


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_large_messages_and_many_small_ones_echo_in_order_with_host_loop(compression: str | None) -> None:
    async def echo(ws: wssession.ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with running(echo, host_loop=True, compression=compression, max_size=None) as (_, url):
        async with connect(url, max_size=None, compression=compression) as client:
            big = os.urandom(3_000_000)
            await client.send(big)
            assert await within(client.recv()) == big
            for i in range(3000):
                await client.send(str(i))
            assert [await within(client.recv()) for _ in range(3000)] == [str(i) for i in range(3000)]


async def test_a_full_incoming_queue_stops_reading_until_recv_makes_room() -> None:
    ready, got = asyncio.Event(), Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ready.wait()
        got.put([await ws.recv() for _ in range(200)])

    async with running(handler, host_loop=True, max_queue=1) as (_, url), connect(url) as client:
        for i in range(200):
            await client.send(str(i))
        ready.set()
        assert await got.get() == [str(i) for i in range(200)]


async def test_host_loop_is_refused_by_name_where_it_cannot_apply(certificate: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="host_loop"):
        wssession.serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, host_loop=True, ssl=certificate)
    with pytest.raises(ValueError, match="host_loop"):
        wssession.unix_serve(lambda ws: asyncio.sleep(0), "/tmp/wssession-host-loop.sock", host_loop=True)
    with pytest.raises(TypeError, match="host_loop"):
        wssession.serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, host_loop="yes")  # type: ignore[arg-type]
