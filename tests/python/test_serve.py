"""The websockets-compatible server: serve(), Server members, shutdown semantics."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
from asyncio.trsock import TransportSocket

import pytest
import websockets
from websockets.asyncio.client import connect

import wssession
from conftest import Box, client_context, echo, running, until, within


async def test_echo_keeps_text_as_text_and_binary_as_binary() -> None:
    async with running(echo) as (_, url), connect(url) as client:
        await client.send("héllo")
        assert await within(client.recv()) == "héllo"
        await client.send(b"\x00\xff")
        assert await within(client.recv()) == b"\x00\xff"


async def test_server_reports_its_ephemeral_port_through_sockets_and_port() -> None:
    async with running(echo) as (server, _):
        name = server.sockets[0].getsockname()
        assert name[0] == "127.0.0.1"
        assert name[1] == server.port > 0
        assert server.sockets[0].family == socket.AF_INET
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()


async def test_awaiting_serve_returns_a_started_server() -> None:
    server = await wssession.serve(echo, "127.0.0.1", 0)
    try:
        async with connect(f"ws://127.0.0.1:{server.port}") as client:
            await client.send("x")
            assert await within(client.recv()) == "x"
    finally:
        server.close()
        await within(server.wait_closed())
    assert not server.is_serving()


async def test_server_close_sends_1001_to_clients_and_waits_for_handlers() -> None:
    finished = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            while True:
                await ws.recv()
        except wssession.ConnectionClosedOK:
            finished.put(ws.close_code)

    async with running(handler) as (server, url), connect(url) as client:
        await within(client.send("ping"))  # the session exists once a message can be exchanged
        await until(lambda: bool(server.connections))
        server.close()
        await within(server.wait_closed())
        assert await finished.get() == 1001
        with pytest.raises(websockets.ConnectionClosed) as info:
            await within(client.recv())
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001


async def test_serve_forever_returns_once_the_server_is_closed() -> None:
    async with running(echo) as (server, _):
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert not task.done()
        server.close()
        await within(task)


async def test_server_close_is_idempotent_and_stops_accepting() -> None:
    async with running(echo) as (server, url):
        server.close()
        server.close()
        await within(server.wait_closed())
        with pytest.raises(OSError):
            async with connect(url, open_timeout=2):
                pass


async def test_connections_lists_open_connections() -> None:
    seen = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        seen.put(ws in ws.server.connections)
        await ws.recv()

    async with running(handler) as (server, url), connect(url) as client:
        assert await seen.get() is True
        assert len(server.connections) == 1
        await client.close()
    assert not server.connections


async def test_many_clients_are_served_concurrently() -> None:
    async with running(echo) as (_, url):

        async def one(i: int) -> str:
            async with connect(url) as c:
                await c.send(f"m{i}")
                return str(await within(c.recv()))

        results = await within(asyncio.gather(*(one(i) for i in range(20))))
        assert results == [f"m{i}" for i in range(20)]


async def test_tls_serves_wss_with_pem_files_in_the_engine(certificate: tuple[str, str]) -> None:
    async with wssession.serve(echo, "127.0.0.1", 0, ssl=certificate) as server:
        assert not isinstance(server.sockets[0], TransportSocket)  # the engine listens and does TLS
        async with connect(f"wss://127.0.0.1:{server.port}", ssl=client_context(certificate)) as client:
            await client.send("secure")
            assert await within(client.recv()) == "secure"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("taskset") is None, reason="needs Linux (SCHED_BATCH) and taskset"
)
@pytest.mark.parametrize(("setting", "inside"), [("1", "SCHED_BATCH"), ("0", "SCHED_OTHER")])
def test_engine_threads_use_batch_scheduling_while_the_loop_resumes_a_batch_unless_opted_out(
    setting: str, inside: str
) -> None:
    # Pinned to one CPU, so the runtime has one worker (runtimes of more than two threads keep their policy).
    code = (
        "import asyncio, json, os, wssession\n"
        "from websockets.asyncio.client import connect\n"
        "def policies():\n"
        "    return sorted({os.sched_getscheduler(int(t)) for t in os.listdir('/proc/self/task')\n"
        "                   if open(f'/proc/self/task/{t}/comm').read().strip() == 'wssession'})\n"
        "async def main():\n"
        "    got = asyncio.get_running_loop().create_future()\n"
        "    async def handler(ws):\n"
        "        await ws.recv()\n"
        "        during = policies()\n"
        "        await asyncio.sleep(0)\n"
        "        got.set_result({'inside': during, 'after': policies()})\n"
        "    async with wssession.serve(handler, '127.0.0.1', 0) as server:\n"
        "        async with connect(f'ws://127.0.0.1:{server.port}') as client:\n"
        "            await client.send('x')\n"
        "            print(json.dumps(await asyncio.wait_for(got, 10)))\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "WSSESSION_SCHED_BATCH": setting}
    out = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    expected = {"inside": [getattr(os, inside)], "after": [os.SCHED_OTHER]}
    assert json.loads(out.stdout) == expected


def test_the_process_exits_cleanly_while_engine_futures_are_still_completing() -> None:
    code = (
        "import asyncio, wssession\n"
        "from websockets.asyncio.client import connect\n"
        "async def handler(ws):\n"
        "    async for m in ws:\n"
        "        await ws.send(m)\n"
        "        await ws.ping()\n"
        "async def main():\n"
        "    async with wssession.serve(handler, '127.0.0.1', 0) as server:\n"
        "        async with connect(f'ws://127.0.0.1:{server.port}') as c:\n"
        "            for _ in range(20):\n"
        "                await c.send('x')\n"
        "                await c.recv()\n"
        "        for ws in list(server.connections):\n"
        "            ws.ping()  # still in flight when asyncio.run returns\n"
        "asyncio.run(main())\n"
        "print('done')\n"
    )
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stdout.strip()) == (0, "done"), out.stderr
        assert "Fatal Python error" not in out.stderr
