"""The websockets-compatible connection: recv, iteration, send, close, ping, properties, errors."""

from __future__ import annotations

import asyncio
import uuid
import logging
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.asyncio.client import connect

import wssession
from conftest import Box, echo, running, until, within


@pytest.mark.usefixtures("host_loop")
async def test_recv_returns_str_for_text_and_bytes_for_binary_and_decode_overrides() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put([await ws.recv(), await ws.recv(), await ws.recv(decode=False), await ws.recv(decode=True)])

    async with running(handler) as (_, url), connect(url) as client:
        for m in ("a", b"b", "c", b"d"):
            await client.send(m)
        assert await got.get() == ["a", b"b", b"c", "d"]


@pytest.mark.usefixtures("host_loop")
async def test_async_for_ends_quietly_when_the_client_closes_normally() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        seen = [m async for m in ws]
        got.put((seen, ws.close_code))

    async with running(handler) as (_, url):
        async with connect(url) as client:
            await client.send("1")
            await client.send("2")
        assert await got.get() == (["1", "2"], 1000)


@pytest.mark.usefixtures("host_loop")
async def test_async_for_raises_connection_closed_error_on_an_error_code() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            async for _ in ws:
                pass
        except wssession.ConnectionClosedError as exc:
            got.put((exc.rcvd.code if exc.rcvd else None, exc.code))

    async with running(handler) as (_, url):
        async with connect(url) as client:
            await client.close(4000, "custom")
        assert await got.get() == (4000, 4000)


async def test_recv_after_a_normal_close_raises_connection_closed_ok() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.recv()
        except wssession.ConnectionClosedOK as exc:
            assert isinstance(exc, wssession.ConnectionClosed)
            assert isinstance(exc, wssession.WebSocketException)
            got.put((exc.code, exc.reason))

    async with running(handler) as (_, url):
        async with connect(url) as client:
            await client.close(1001, "bye")
        assert await got.get() == (1001, "bye")


@pytest.mark.usefixtures("host_loop")
async def test_many_queued_messages_arrive_in_order() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put([await ws.recv() for _ in range(500)])

    async with running(handler) as (_, url), connect(url) as client:
        for i in range(500):
            await client.send(str(i))
        assert await got.get() == [str(i) for i in range(500)]


async def test_send_accepts_bytearray_memoryview_and_fragment_iterables() -> None:
    async def fragments() -> AsyncIterator[str]:
        for part in ("as", "ync"):
            yield part

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.send(bytearray(b"ba"))
        await ws.send(memoryview(b"mv"))
        await ws.send(["fr", "ag"])
        await ws.send([b"b1", b"b2"])
        await ws.send(fragments())
        await ws.send(wssession.Frame.text("frame"))
        await ws.recv()

    async with running(handler) as (_, url), connect(url) as client:
        got = [await within(client.recv()) for _ in range(6)]
        assert got == [b"ba", b"mv", "frag", b"b1b2", "async", "frame"]


async def test_handler_return_closes_with_1000() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        return None

    async with running(handler) as (_, url), connect(url) as client:
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            await within(client.recv())
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


async def test_handler_exception_closes_with_1011_and_logs_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="wssession.server"):
        async with running(handler) as (_, url), connect(url) as client:
            with pytest.raises(websockets.ConnectionClosedError) as info:
                await within(client.recv())
            assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    failures = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert failures and failures[0].exc_info is not None
    assert "boom" in str(failures[0].exc_info[1])


async def test_cancelled_handler_task_closes_the_connection() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)
        await asyncio.sleep(10)

    async with running(handler) as (_, url), connect(url) as client:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await within(client.recv())
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011


@pytest.mark.usefixtures("host_loop")
async def test_close_sends_code_and_reason_waits_and_is_idempotent() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.close(4001, "done")
        await ws.close(1000, "again")
        got.put((ws.state, ws.close_code, ws.close_reason))

    async with running(handler) as (_, url), connect(url) as client:
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await within(client.recv())
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "done")
        assert await got.get() == (wssession.State.CLOSED, 4001, "done")


async def test_send_after_close_raises_connection_closed() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.close()
        try:
            await ws.send("late")
        except wssession.ConnectionClosed as exc:
            got.put(type(exc))

    async with running(handler) as (_, url), connect(url):
        assert await got.get() is wssession.ConnectionClosedOK


async def test_wait_closed_returns_the_close_reason() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put(await ws.wait_closed())

    async with running(handler) as (_, url):
        async with connect(url) as client:
            await client.close(4002, "x")
        reason = await got.get()
        assert isinstance(reason, wssession.CloseReason)
        assert (reason.code, reason.reason, reason.initiator) == (4002, "x", "remote")


async def test_ping_returns_a_pong_waiter_with_the_latency() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        assert ws.latency == 0.0
        waiter = await ws.ping()
        rtt = await waiter
        waiter2 = await ws.ping(b"payload")
        await waiter2
        got.put((rtt, ws.latency))
        await ws.recv()

    async with running(handler) as (_, url), connect(url):
        rtt, latency = await got.get()
        assert rtt > 0 and latency > 0


async def test_pong_sends_an_unsolicited_pong() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.pong(b"hb")
        await ws.send("after")
        await ws.recv()

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "after"


async def test_request_addresses_subprotocol_id_and_state_are_exposed() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put(
            dict(
                path=ws.request.path,
                bare=ws.request.path_without_query,
                query=ws.request.query,
                target=ws.request.target,
                ua=ws.request.headers["user-agent"],
                custom=ws.request.headers.get_all("X-Custom"),
                has=("X-CUSTOM" in ws.request.headers, "Nope" in ws.request.headers),
                remote=ws.remote_address,
                local=ws.local_address,
                sub=ws.subprotocol,
                id=ws.id,
                state=ws.state,
                call=ws.call.path,
            )
        )
        await ws.recv()

    async with running(handler) as (server, url):
        headers = [("X-Custom", "1"), ("X-Custom", "2")]
        async with connect(url + "/chat?room=1", additional_headers=headers, user_agent_header="tester") as client:
            info = await got.get()
            assert info["path"] == "/chat?room=1" and info["bare"] == "/chat" and info["query"] == "room=1" and info["target"] == "/chat?room=1"
            assert info["ua"] == "tester"
            assert info["custom"] == ["1", "2"]
            assert info["has"] == (True, False)
            assert info["remote"] == client.local_address[:2]
            assert info["local"] == ("127.0.0.1", server.port)
            assert info["sub"] is None
            assert isinstance(info["id"], uuid.UUID)
            assert info["state"] is wssession.State.OPEN
            assert info["call"] == "/chat?room=1"


@pytest.mark.usefixtures("host_loop")
async def test_client_closing_without_a_close_frame_is_1006_and_an_error() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.recv()
        except wssession.ConnectionClosedError as exc:
            got.put((exc.code, ws.close_code, (await ws.wait_closed()).initiator))

    async with running(handler) as (_, url):
        client = await connect(url)
        client.transport.abort()
        assert await got.get() == (1006, 1006, "abnormal")


@pytest.mark.usefixtures("host_loop")
async def test_oversized_message_closes_with_1009() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.recv()
        except wssession.ConnectionClosedError:
            got.put(ws.close_code)

    async with running(handler, max_size=1000) as (_, url), connect(url) as client:
        await client.send("x" * 2000)
        assert await got.get() == 1009
        with pytest.raises(websockets.ConnectionClosedError):
            await within(client.recv())


async def test_broadcast_sends_to_every_open_connection() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        async for m in ws:
            wssession.broadcast(ws.server.connections, m)

    async with running(handler) as (server, url), connect(url) as a, connect(url) as b:
        await until(lambda: len(server.connections) == 2)
        await a.send("hi all")
        assert await within(a.recv()) == "hi all"
        assert await within(b.recv()) == "hi all"


@pytest.mark.usefixtures("host_loop")
async def test_compression_is_negotiated_by_default_and_can_be_disabled() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.send(ws.request.extensions)
        await ws.recv()

    async with running(handler) as (_, url), connect(url) as client:
        assert "permessage-deflate" in await within(client.recv())
        await client.send("x" * 10000)
    async with running(handler, compression=None) as (_, url), connect(url) as client:
        assert await within(client.recv()) == ""


async def test_an_already_queued_message_is_returned_without_suspending() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        assert await ws.recv() == "0"
        await until(lambda: ws.stats["messages_in"] == 50)
        immediate = 0
        for i in range(1, 50):
            it = ws.recv().__await__()
            try:
                next(it)  # a message already queued completes on the first step
            except StopIteration as done:
                assert done.value == str(i)
                immediate += 1
        got.put(immediate)
        await ws.recv()

    async with running(handler, max_queue=100) as (_, url), connect(url) as client:
        for i in range(50):
            await client.send(str(i))
        assert await got.get() == 49


async def test_concurrent_recv_raises_concurrency_error() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        first = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)  # let the first recv start waiting
        try:
            await ws.recv()
        except wssession.ConcurrencyError:
            await ws.send("both receives made")  # the client sends only now: the first recv is waiting
            got.put(await first)

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "both receives made"
        await client.send("one")
        assert await got.get() == "one"


async def test_a_cancelled_recv_loses_no_message() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.01)
        await ws.send("ready")
        got.put(await ws.recv())

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "ready"
        await client.send("kept")
        assert await got.get() == "kept"


@pytest.mark.usefixtures("host_loop")
async def test_many_connections_waiting_at_once_are_all_woken_in_order() -> None:
    async def client_round_trips(url: str, n: int) -> list[str]:
        async with connect(url) as client:
            got = []
            for i in range(20):
                await client.send(f"{n}:{i}")
                got.append(await within(client.recv()))
            return got

    async with running(echo) as (_, url):
        results = await within(asyncio.gather(*(client_round_trips(url, n) for n in range(40))))
    assert results == [[f"{n}:{i}" for i in range(20)] for n in range(40)]


def test_servers_on_successive_event_loops_each_wake_their_own_loop() -> None:
    async def one_round_trip() -> str:
        async with running(echo) as (_, url), connect(url) as client:
            await client.send("hello")
            reply: str = await within(client.recv())
            return reply

    assert asyncio.run(one_round_trip()) == "hello"
    assert asyncio.run(one_round_trip()) == "hello"
