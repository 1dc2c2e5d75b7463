"""Bring your own socket, TLS and listener (issue 12): ``serve(ssl=SSLContext)`` through the byte pump,
``sock=``, ``reuse_port=``, ``start_serving=``, ``backlog=``, the rest of ``loop.create_server``'s
keywords, ``unix_serve``, and Ktor's ``start(negotiated)`` on a connection the host upgraded itself."""

from __future__ import annotations

import asyncio
import os
import pathlib
import socket
import ssl
import subprocess
import sys
from asyncio.trsock import TransportSocket
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect, unix_connect

import wssession
from conftest import Box, client_context, echo, until, within


def server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def listen_queue(port: int) -> int:
    """The accept-queue limit (backlog) of the socket listening on ``port``, as ``ss`` reports it."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


# ---- ssl=SSLContext: asyncio terminates TLS, the session runs over the byte pump ----


async def test_an_ssl_context_serves_wss_with_the_same_session_behaviour(certificate: tuple[str, str]) -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put((ws.request.tls, ws.remote_address))
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            box.put((ws.close_code, ws.close_reason))

    async with wssession.serve(handler, "127.0.0.1", 0, ssl=server_context(certificate)) as server:
        assert isinstance(server.sockets[0], TransportSocket)  # asyncio listens
        uri = f"wss://127.0.0.1:{server.port}"
        async with connect(uri, ssl=client_context(certificate)) as client:
            tls, remote = await box.get()
            assert tls is True and remote == client.local_address[:2]
            await client.send("secure")
            assert await within(client.recv()) == "secure"
            big = os.urandom(1 << 19)  # more than the pump buffers: backpressure both ways
            await client.send(big)
            assert await within(client.recv()) == big
            box = Box()
            await client.close(4000, "bye")
        assert await box.get() == (4000, "bye")


async def test_server_close_sends_1001_over_tls_from_an_ssl_context(certificate: tuple[str, str]) -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.wait_closed()

    async with wssession.serve(handler, "127.0.0.1", 0, ssl=server_context(certificate)) as server:
        async with connect(f"wss://127.0.0.1:{server.port}", ssl=client_context(certificate)) as client:
            await until(lambda: bool(server.connections))
            server.close()
            with pytest.raises(websockets.ConnectionClosedOK) as info:
                await within(client.recv())
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
            await within(server.wait_closed())


# ---- sock=, reuse_port=, start_serving=, backlog=, other create_server keywords ----


@pytest.mark.parametrize("listening", [True, False], ids=["listening", "bound-only"])
async def test_sock_serves_on_a_socket_the_caller_bound(listening: bool) -> None:
    if listening:
        sock = socket.create_server(("127.0.0.1", 0))
    else:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with wssession.serve(echo, sock=sock, backlog=5) as server:
        assert server.port == port
        assert listen_queue(port) == 5
        assert sock.fileno() == -1  # the server owns it now, as asyncio's would
        async with connect(f"ws://127.0.0.1:{port}") as client:
            await client.send("on my socket")
            assert await within(client.recv()) == "on my socket"


async def test_start_serving_false_accepts_only_after_start_serving() -> None:
    server = await wssession.serve(echo, "127.0.0.1", 0, start_serving=False)
    try:
        assert not server.is_serving()
        port = server.port
        assert port > 0
        with pytest.raises(OSError):  # bound, not listening yet (as asyncio's start_serving=False)
            await within(connect(f"ws://127.0.0.1:{port}"))
        await server.start_serving()
        assert server.is_serving()
        async with connect(f"ws://127.0.0.1:{port}") as client:
            await client.send("late")
            assert await within(client.recv()) == "late"
    finally:
        server.close()
        await within(server.wait_closed())


async def test_serve_forever_starts_a_server_made_with_start_serving_false() -> None:
    server = await wssession.serve(echo, "127.0.0.1", 0, start_serving=False)
    task = asyncio.ensure_future(server.serve_forever())
    await until(server.is_serving)
    async with connect(f"ws://127.0.0.1:{server.port}") as client:
        await client.send("x")
        assert await within(client.recv()) == "x"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await within(task)
    assert not server.is_serving()


@pytest.mark.parametrize("extra", [{}, {"reuse_address": True}], ids=["engine-listener", "asyncio-listener"])
async def test_backlog_sets_the_listen_queue(extra: dict[str, Any]) -> None:
    async with wssession.serve(echo, "127.0.0.1", 0, backlog=7, **extra) as server:
        assert listen_queue(server.port) == 7


async def test_keep_alive_and_family_are_applied_to_the_accepted_connections() -> None:
    async with wssession.serve(echo, "localhost", 0, family=socket.AF_INET, keep_alive=True) as server:
        assert {s.family for s in server.sockets} == {socket.AF_INET}
        async with connect(f"ws://127.0.0.1:{server.port}") as client:
            await client.send("x")
            assert await within(client.recv()) == "x"

            def keepalive_timer() -> bool:  # shown once no retransmission timer is pending
                command = ["ss", "-tnoH", "state", "established", f"sport = :{server.port}"]
                return "keepalive" in subprocess.run(command, capture_output=True, text=True).stdout

            await until(keepalive_timer)


async def test_unknown_keywords_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="reuse_porte"):
        wssession.serve(echo, "127.0.0.1", 0, reuse_porte=True)
    with pytest.raises(TypeError, match="sock"):
        wssession.serve(echo, sock="not a socket")
    with pytest.raises(TypeError, match="reuse_port"):
        wssession.serve(echo, "127.0.0.1", 0, reuse_port="yes")


def test_reuse_port_lets_two_processes_serve_one_port() -> None:
    code = (
        "import asyncio, os, sys, wssession\n"
        "async def pid(ws):\n"
        "    await ws.send(str(os.getpid()))\n"
        "    await ws.wait_closed()\n"
        "async def main(port):\n"
        "    async with wssession.serve(pid, '127.0.0.1', port, reuse_port=True) as server:\n"
        "        print(server.port, flush=True)\n"
        "        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)\n"
        "asyncio.run(main(int(sys.argv[1])))\n"
    )
    first = subprocess.Popen([sys.executable, "-c", code, "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None and first.stdin is not None
    port = int(first.stdout.readline())
    second = subprocess.Popen(
        [sys.executable, "-c", code, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert second.stdout is not None and second.stdin is not None
    try:
        assert int(second.stdout.readline()) == port  # both listen on one port

        async def pids() -> set[int]:
            seen: set[int] = set()
            for _ in range(400):  # the kernel spreads connections over both listeners
                async with connect(f"ws://127.0.0.1:{port}") as client:
                    seen.add(int(await within(client.recv())))
                if len(seen) == 2:
                    break
            return seen

        assert asyncio.run(pids()) == {first.pid, second.pid}
    finally:
        for p in (first, second):
            assert p.stdin is not None
            p.stdin.close()
            p.wait(timeout=20)


# ---- unix_serve ----


async def test_unix_serve_serves_on_a_unix_socket(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "ws.sock")
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(ws.request.path)
        async for message in ws:
            await ws.send(message)

    async with wssession.unix_serve(handler, path) as server:
        assert server.sockets[0].family == socket.AF_UNIX
        async with unix_connect(path, "ws://localhost/over-unix") as client:
            await client.send("local")
            assert await within(client.recv()) == "local"
            assert await box.get() == "/over-unix"


# ---- a connection the host upgraded itself: Ktor's start(negotiated) ----


async def test_start_runs_a_session_on_a_connection_the_host_upgraded_with_permessage_deflate() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(ws.request.extensions)
        async for message in ws:
            await ws.send(message)

    async with wssession.serve(handler, "127.0.0.1", 0) as server:

        async def host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The host reads the upgrade request and writes the 101 itself ...
            head = await reader.readuntil(b"\r\n\r\n")
            parsed = wssession.Request.parse(
                head, writer.get_extra_info("peername")[:2], writer.get_extra_info("sockname")[:2]
            )
            assert parsed is not None
            request, length = parsed
            assert length == len(head)
            handshake = server.handshake_response(request)
            writer.write(handshake.to_bytes())
            await writer.drain()
            # ... then hands the socket over and starts the session with what it negotiated.
            raw = writer.get_extra_info("socket")
            sock = socket.socket(fileno=os.dup(raw.fileno()))
            writer.transport.abort()
            upgraded = server.upgraded(sock, request, handshake)
            assert handshake.negotiated is not None
            upgraded.start(handshake.negotiated)

        host_server = await asyncio.start_server(host, "127.0.0.1", 0)
        port = host_server.sockets[0].getsockname()[1]
        try:
            async with connect(f"ws://127.0.0.1:{port}", compression="deflate") as client:
                assert client.response is not None
                assert "permessage-deflate" in client.response.headers["Sec-WebSocket-Extensions"]
                assert "permessage-deflate" in await box.get()
                text = "compressible " * 1000
                await client.send(text)
                assert await within(client.recv()) == text
                # The session really inflates and deflates: websockets negotiated the extension too.
                assert [type(e).__name__ for e in client.protocol.extensions] == ["PerMessageDeflate"]
        finally:
            host_server.close()


async def test_a_bad_upgrade_request_is_refused_and_a_partial_head_is_not_parsed() -> None:
    async with wssession.serve(echo, "127.0.0.1", 0) as server:
        parsed = wssession.Request.parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert parsed is not None
        with pytest.raises(wssession.InvalidHandshake):
            server.handshake_response(parsed[0])
        assert wssession.Request.parse(b"GET / HTTP/1.1\r\nHost:") is None
