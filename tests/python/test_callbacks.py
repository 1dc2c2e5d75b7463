"""The low-level callback handler: on_open / on_message / on_close on runtime threads."""

from __future__ import annotations

import asyncio
import uuid
import logging
import threading

import pytest
import websockets
from websockets.asyncio.client import connect

import wssession
from conftest import within


class Echo:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[uuid.UUID] = self.loop.create_future()
        self.closed: asyncio.Future[wssession.CloseReason] = self.loop.create_future()
        self.threads: set[str] = set()

    def on_open(self, conn: wssession.ServerConnection) -> None:
        self.loop.call_soon_threadsafe(self.opened.set_result, conn.id)

    def on_message(self, conn: wssession.ServerConnection, frame: wssession.Frame) -> None:
        self.threads.add(threading.current_thread().name)
        conn.try_send(frame)

    def on_close(self, conn: wssession.ServerConnection, reason: wssession.CloseReason) -> None:
        self.loop.call_soon_threadsafe(self.closed.set_result, reason)


async def test_callback_handler_echoes_frames_and_reports_open_and_close() -> None:
    echo = Echo()
    # The default mode (engine threads), also under `pytest --host-loop`: test_host_loop.py has the other.
    async with wssession.serve_callbacks(echo, "127.0.0.1", 0, host_loop=False) as server:
        async with connect(f"ws://127.0.0.1:{server.port}") as client:
            assert isinstance(await within(echo.opened), uuid.UUID)
            await client.send("text")
            assert await within(client.recv()) == "text"
            await client.send(b"bin")
            assert await within(client.recv()) == b"bin"
        reason = await within(echo.closed)
        assert (reason.code, reason.initiator) == (1000, "remote")
    assert threading.main_thread().name not in echo.threads


@pytest.mark.usefixtures("host_loop")
async def test_a_failing_callback_closes_with_1011_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    class Failing:
        def on_message(self, conn: wssession.ServerConnection, frame: wssession.Frame) -> None:
            raise ValueError("bad callback")

    with caplog.at_level(logging.ERROR, logger="wssession.server"):
        async with wssession.serve_callbacks(Failing(), "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{server.port}") as client:
                await client.send("x")
                with pytest.raises(websockets.ConnectionClosedError) as info:
                    await within(client.recv())
                assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    assert any("on_message callback failed" in r.getMessage() for r in caplog.records)


async def test_recv_is_unavailable_in_callback_mode() -> None:
    loop = asyncio.get_running_loop()
    got: asyncio.Future[str] = loop.create_future()

    class Probe:
        def on_message(self, conn: wssession.ServerConnection, frame: wssession.Frame) -> None:
            try:
                conn.recv()
            except wssession.InvalidState as exc:
                loop.call_soon_threadsafe(got.set_result, str(exc))

    async with wssession.serve_callbacks(Probe(), "127.0.0.1", 0) as server:
        async with connect(f"ws://127.0.0.1:{server.port}") as client:
            await client.send("x")
            assert "callback" in await within(got)


def test_serve_callbacks_requires_on_message() -> None:
    with pytest.raises(TypeError):
        wssession.serve_callbacks(object(), "127.0.0.1", 0)  # type: ignore[arg-type]
