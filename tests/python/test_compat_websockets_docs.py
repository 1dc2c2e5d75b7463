"""The websockets documentation's server examples, unchanged apart from the import line.

Each example is the documented code (new asyncio API), with ``import wssession as websockets`` /
``from wssession.asyncio.server import ...`` in place of websockets' imports; the test drives it
with the real websockets client.
"""

from __future__ import annotations

import asyncio
import http
import urllib.parse
from typing import Any

import pytest
import websockets as real_websockets
from websockets.asyncio.client import connect

import wssession as websockets
from wssession.asyncio.server import broadcast, serve
from conftest import until, within


# --- "Getting started": the echo server -------------------------------------------------------
async def echo(websocket: Any) -> None:
    async for message in websocket:
        await websocket.send(message)


async def test_docs_echo_server() -> None:
    async with serve(echo, "localhost", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://localhost:{port}") as websocket:
            await websocket.send("Hello world!")
            assert await within(websocket.recv()) == "Hello world!"
        server.close()
        await within(server.serve_forever())


# --- "Broadcasting": register connections, broadcast to all -----------------------------------
CONNECTIONS: set[Any] = set()


async def register(websocket: Any) -> None:
    CONNECTIONS.add(websocket)
    try:
        await websocket.wait_closed()
    finally:
        CONNECTIONS.remove(websocket)


async def test_docs_broadcast() -> None:
    async with websockets.serve(register, "localhost", 0) as server:
        url = f"ws://localhost:{server.port}"
        async with connect(url) as a, connect(url) as b:
            await until(lambda: len(CONNECTIONS) == 2)
            broadcast(CONNECTIONS, "2024-01-01T00:00:00Z")
            assert await within(a.recv()) == "2024-01-01T00:00:00Z"
            assert await within(b.recv()) == "2024-01-01T00:00:00Z"
    assert not CONNECTIONS


# --- "Authentication": process_request rejecting, state set on the connection -----------------
USERS = {"abc123": "alice"}


def get_user(token: str) -> str | None:
    return USERS.get(token)


def get_query_param(path: str, key: str) -> str | None:
    query = urllib.parse.urlparse(path).query
    params = urllib.parse.parse_qs(query)
    values = params.get(key, [])
    if len(values) == 1:
        return values[0]
    return None


async def process_request(connection: Any, request: Any) -> Any:
    token = get_query_param(request.path, "token")
    if token is None:
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Missing token\n")

    user = get_user(token)
    if user is None:
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Invalid token\n")

    connection.username = user
    return None


async def handler(websocket: Any) -> None:
    await websocket.send(f"Hello {websocket.username}!")


async def test_docs_process_request_authentication() -> None:
    async with websockets.serve(handler, "localhost", 0, process_request=process_request) as server:
        url = f"ws://localhost:{server.port}"
        for bad, body in (("", b"Missing token\n"), ("?token=nope", b"Invalid token\n")):
            with pytest.raises(real_websockets.InvalidStatus) as info:
                await within(connect(url + "/" + bad))
            assert info.value.response.status_code == 401
            assert info.value.response.body == body
        async with connect(url + "/?token=abc123") as websocket:
            assert await within(websocket.recv()) == "Hello alice!"


# --- "Health check": process_request answering plain HTTP --------------------------------------
def health_check(connection: Any, request: Any) -> Any:
    if request.path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    return None


async def test_docs_health_check() -> None:
    async with websockets.serve(echo, "localhost", 0, process_request=health_check) as server:
        reader, writer = await asyncio.open_connection("localhost", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = await within(reader.read())
        writer.close()
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"OK\n")


# --- "select_subprotocol": negotiate chat if offered, else continue without -------------------
def select_subprotocol(connection: Any, subprotocols: Any) -> Any:
    if "chat" in subprotocols:
        return "chat"
    return None


async def subprotocol_handler(websocket: Any) -> None:
    await websocket.send(str(websocket.subprotocol))


async def test_docs_select_subprotocol() -> None:
    async with websockets.serve(subprotocol_handler, "localhost", 0, select_subprotocol=select_subprotocol) as server:
        url = f"ws://localhost:{server.port}"
        async with connect(url, subprotocols=["superchat", "chat"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "chat"
            assert await within(ws.recv()) == "chat"
        async with connect(url, subprotocols=["superchat"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol is None
            assert await within(ws.recv()) == "None"


# --- Exceptions: the documented hierarchy and names ---------------------------------------------
def test_exception_names_and_hierarchy_match_websockets() -> None:
    for name in (
        "ConnectionClosed",
        "ConnectionClosedOK",
        "ConnectionClosedError",
        "InvalidHandshake",
        "InvalidStatus",
        "InvalidOrigin",
        "NegotiationError",
        "ProtocolError",
        "PayloadTooBig",
        "InvalidState",
        "ConcurrencyError",
        "WebSocketException",
    ):
        ours = getattr(websockets, name)
        theirs = getattr(real_websockets, name)
        assert issubclass(ours, websockets.WebSocketException)
        ours_bases = {b.__name__ for b in ours.__mro__}
        theirs_bases = {b.__name__ for b in theirs.__mro__ if b.__module__.startswith("websockets")}
        assert theirs_bases <= ours_bases, name
