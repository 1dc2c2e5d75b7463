"""The opening handshake as websockets' server API shapes it: process_request, subprotocols, origins."""

from __future__ import annotations

import asyncio
import http
import re

import pytest
import websockets
from websockets.asyncio.client import connect

import wssession
from conftest import Box, running, within


async def idle(ws: wssession.ServerConnection) -> None:
    await ws.send(ws.subprotocol or "")
    await ws.wait_closed()


async def raw_get(port: int, head: str) -> str:
    """Sends a raw HTTP request and returns the whole response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    data: bytes = await within(reader.read())
    writer.close()
    return data.decode(errors="replace")


async def test_process_request_can_reject_with_a_response() -> None:
    def process_request(conn: wssession.HandshakeConnection, request: wssession.Request) -> wssession.Response | None:
        if request.headers.get("X-Token") != "secret":
            return conn.respond(http.HTTPStatus.UNAUTHORIZED, "Missing token\n")
        return None

    async with running(idle, process_request=process_request) as (_, url):
        with pytest.raises(websockets.InvalidStatus) as info:
            await within(connect(url))
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"Missing token\n"
        async with connect(url, additional_headers={"X-Token": "secret"}) as client:
            assert await within(client.recv()) == ""


async def test_async_process_request_can_serve_a_health_check_on_plain_http() -> None:
    async def process_request(conn: wssession.HandshakeConnection, request: wssession.Request) -> wssession.Response | None:
        await asyncio.sleep(0)
        if request.path == "/healthz":
            response = conn.respond(http.HTTPStatus.OK, "OK\n")
            response.headers["X-Health"] = "good"
            return response
        return None

    async with running(idle, process_request=process_request) as (server, _):
        text = await raw_get(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert text.startswith("HTTP/1.1 200")
        assert "X-Health: good" in text and text.endswith("OK\n")
        text = await raw_get(server.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert text.startswith("HTTP/1.1 4")


async def test_a_failing_process_request_answers_500_and_logs() -> None:
    def process_request(conn: wssession.HandshakeConnection, request: wssession.Request) -> None:
        raise RuntimeError("hook bug")

    async with running(idle, process_request=process_request) as (_, url):
        with pytest.raises(websockets.InvalidStatus) as info:
            await within(connect(url))
        assert info.value.response.status_code == 500


async def test_subprotocols_picks_the_servers_first_choice_the_client_offers() -> None:
    async with running(idle, subprotocols=["b", "a"]) as (_, url):
        async with connect(url, subprotocols=["a", "b"]) as client:  # type: ignore[list-item]
            assert client.subprotocol == "b"
            assert await within(client.recv()) == "b"


async def test_subprotocols_with_no_common_offer_fail_the_handshake_with_400() -> None:
    async with running(idle, subprotocols=["chat"]) as (_, url):
        for offer in (["other"], None):
            with pytest.raises(websockets.InvalidStatus) as info:
                await within(connect(url, subprotocols=offer))  # type: ignore[arg-type]
            assert info.value.response.status_code == 400


async def test_select_subprotocol_decides_and_may_continue_without_one() -> None:
    def select(conn: wssession.HandshakeConnection, offered: list[str]) -> str | None:
        assert conn.request.path == "/"
        return "chat" if "chat" in offered else None

    async with running(idle, select_subprotocol=select) as (_, url):
        async with connect(url, subprotocols=["x", "chat"]) as client:  # type: ignore[list-item]
            assert client.subprotocol == "chat"
        async with connect(url, subprotocols=["x"]) as client:  # type: ignore[list-item]
            assert client.subprotocol is None


async def test_select_subprotocol_raising_negotiation_error_gives_400() -> None:
    def select(conn: wssession.HandshakeConnection, offered: list[str]) -> str | None:
        raise wssession.NegotiationError("no thanks")

    async with running(idle, select_subprotocol=select) as (_, url):
        with pytest.raises(websockets.InvalidStatus) as info:
            await within(connect(url))
        assert info.value.response.status_code == 400


async def test_origins_reject_unknown_origins_with_403() -> None:
    origins = ["https://good.example", re.compile(r"https://.*\.trusted\.example")]
    async with running(idle, origins=origins) as (_, url):
        async with connect(url, origin="https://good.example"):  # type: ignore[arg-type]
            pass
        async with connect(url, origin="https://a.trusted.example"):  # type: ignore[arg-type]
            pass
        for bad in ("https://evil.example", None):
            with pytest.raises(websockets.InvalidStatus) as info:
                await within(connect(url, origin=bad))  # type: ignore[arg-type]
            assert info.value.response.status_code == 403


async def test_origins_may_allow_requests_without_origin() -> None:
    async with running(idle, origins=[None]) as (_, url):
        async with connect(url):
            pass


async def test_invalid_upgrade_requests_get_400_and_the_server_keeps_serving() -> None:
    async with running(idle) as (server, url):
        head = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text = await raw_get(server.port, head + "\r\n")
        assert text.startswith("HTTP/1.1 426") and "Sec-WebSocket-Version: 13" in text
        text = await raw_get(server.port, head + "Sec-WebSocket-Version: 13\r\n\r\n")
        assert text.startswith("HTTP/1.1 400")
        async with connect(url) as client:
            assert await within(client.recv()) == ""


async def test_request_is_visible_to_the_handler_after_process_request() -> None:
    got = Box()

    def process_request(conn: wssession.HandshakeConnection, request: wssession.Request) -> None:
        assert conn.remote_address == request.remote_address
        return None

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put(ws.request.path)
        await ws.wait_closed()

    async with running(handler, process_request=process_request) as (_, url), connect(url + "/room"):
        assert await got.get() == "/room"
