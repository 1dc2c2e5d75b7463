"""The Ktor session members on the same connection object."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

import wssession
from conftest import Box, running, until, within


@pytest.mark.usefixtures("host_loop")
async def test_incoming_yields_frames_and_ends_at_a_clean_close() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        frames = [f async for f in ws.incoming]
        got.put([(f.opcode, f.frame_type, f.data, f.fin, f.rsv1, f.rsv2, f.rsv3) for f in frames])

    async with running(handler, compression=None) as (_, url):
        async with connect(url, compression=None) as client:
            await client.send("t")
            await client.send(b"b")
        assert await got.get() == [(1, "text", b"t", True, False, False, False), (2, "binary", b"b", True, False, False, False)]


async def test_incoming_receive_raises_connection_closed_at_the_end() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        first = await ws.incoming.receive()
        try:
            await ws.incoming.receive()
        except wssession.ConnectionClosed:
            got.put(first.text_data)

    async with running(handler) as (_, url):
        async with connect(url) as client:
            await client.send("only")
        assert await got.get() == "only"


async def test_outgoing_sends_frames_and_fragments_and_close_is_close_1000() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.outgoing.send(wssession.Frame(1, "fr", fin=False))
        await ws.outgoing.send(wssession.Frame(1, "ag", fin=True))
        assert ws.outgoing.try_send(wssession.Frame.binary(b"x")) == "sent"
        ws.outgoing.close()
        ws.outgoing.close()

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "frag"
        assert await within(client.recv()) == b"x"
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            await within(client.recv())
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


async def test_flush_waits_for_the_queue_and_buffered_amount_drops_to_zero() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        for _ in range(10):
            ws.try_send(b"x" * 10000)
        await ws.flush()
        got.put(ws.buffered_amount)
        await ws.recv()

    async with running(handler) as (_, url), connect(url):
        assert await got.get() == 0


@pytest.mark.usefixtures("host_loop")
async def test_terminate_aborts_with_1006_and_close_reason_future_resolves() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        fut = ws.close_reason_future
        ws.terminate()
        ws.terminate()
        reason = await fut
        got.put((reason.code, reason.initiator, ws.close_code))

    async with running(handler) as (_, url), connect(url) as client:
        assert await got.get() == (1006, "abnormal", 1006)
        with pytest.raises(websockets.ConnectionClosedError):
            await within(client.recv())


async def test_settings_are_readable_and_writable_at_runtime() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        before: dict[str, Any] = dict(
            masking=ws.masking,
            max_frame_size=ws.max_frame_size,
            ping_interval=ws.ping_interval,
            ping_interval_millis=ws.ping_interval_millis,
            timeout=ws.timeout,
            timeout_millis=ws.timeout_millis,
            close_timeout=ws.close_timeout,
            close_timeout_millis=ws.close_timeout_millis,
        )
        ws.max_frame_size = 4096
        ws.ping_interval = None
        ws.ping_interval_millis = 0
        ws.timeout = 2.5
        ws.timeout_millis = 3000
        ws.close_timeout = 1
        ws.close_timeout_millis = 1500
        after = (ws.max_frame_size, ws.ping_interval, ws.timeout_millis, ws.timeout, ws.close_timeout_millis)
        got.put((before, after))
        await ws.recv()

    async with running(handler, ping_interval=7, ping_timeout=3, close_timeout=4, max_size=5000) as (_, url):
        async with connect(url):
            before, after = await got.get()
            assert before == dict(
                masking=False,
                max_frame_size=5000,
                ping_interval=7.0,
                ping_interval_millis=7000,
                timeout=3.0,
                timeout_millis=3000,
                close_timeout=4.0,
                close_timeout_millis=4000,
            )
            assert after == (4096, None, 3000, 3.0, 1500)


async def test_max_frame_size_set_at_runtime_applies_to_the_next_message() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.max_frame_size = 10
        await ws.send("ready")
        try:
            await ws.recv()
        except wssession.ConnectionClosedError:
            got.put(ws.close_code)

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "ready"
        await client.send("x" * 100)
        assert await got.get() == 1009


async def test_pinger_pings_the_client_and_measures_latency() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.ping_interval_millis = 20
        await until(lambda: ws.latency > 0)
        got.put(ws.latency)
        await ws.recv()

    async with running(handler) as (_, url), connect(url):
        assert await got.get() > 0


async def test_masking_masks_server_frames_which_websockets_clients_reject() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        ws.masking = True
        assert ws.masking is True
        await ws.send("masked")
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await within(client.recv())
        assert info.value.sent is not None and info.value.sent.code == 1002


async def test_application_and_server_are_the_server_object() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put((ws.server, ws.application))
        await ws.recv()

    async with running(handler) as (server, url), connect(url):
        assert await got.get() == (server, server)


async def test_send_serialized_and_receive_deserialized_use_json_by_default() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        assert isinstance(ws.converter, wssession.JsonConverter)
        await ws.send_serialized({"a": [1, 2]})
        got.put(await ws.receive_deserialized())
        await ws.recv()

    async with running(handler) as (_, url), connect(url) as client:
        assert json.loads(await within(client.recv())) == {"a": [1, 2]}
        await client.send('{"b": true}')
        assert await got.get() == {"b": True}


async def test_a_custom_converter_may_produce_binary_frames() -> None:
    class Reverse:
        def dumps(self, obj: Any) -> bytes:
            return str(obj)[::-1].encode()

        def loads(self, data: str | bytes) -> Any:
            return (data.decode() if isinstance(data, bytes) else data)[::-1]

    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.converter = Reverse()
        await ws.send_serialized("abc")
        got.put(await ws.receive_deserialized())
        await ws.recv()

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == b"cba"
        await client.send(b"zyx")
        assert await got.get() == "xyz"


async def test_deserialize_error_carries_the_frame_and_the_session_stays_open() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.receive_deserialized()
        except wssession.DeserializeError as exc:
            frame = exc.frame
            assert isinstance(frame, wssession.Frame)
            await ws.send("still open: " + frame.text_data)
            got.put(exc.message)
        await ws.recv()

    async with running(handler) as (_, url), connect(url) as client:
        await client.send("{nope")
        assert await within(client.recv()) == "still open: {nope"
        assert await got.get()


async def test_without_a_converter_serialization_raises_no_converter_error() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.converter = None
        errors = []
        for call in (lambda: ws.send_serialized(1), ws.receive_deserialized):
            try:
                await call()
            except wssession.NoConverterError as exc:
                errors.append(str(exc))
        got.put(errors)

    async with running(handler) as (_, url), connect(url):
        assert len(await got.get()) == 2


async def test_serialization_on_a_closed_session_raises_connection_closed() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.close()
        try:
            await ws.send_serialized({"x": 1})
        except wssession.ConnectionClosed:
            got.put(True)

    async with running(handler) as (_, url), connect(url):
        assert await got.get() is True


@pytest.mark.usefixtures("host_loop")
async def test_stats_count_messages_and_bytes_both_ways() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.send(await ws.recv())
        await ws.recv()
        got.put(ws.stats)

    async with running(handler) as (_, url), connect(url) as client:
        await client.send("hello")
        await within(client.recv())
        await client.send("x")
        stats = await got.get()
        assert stats["messages_in"] == 2 and stats["bytes_in"] == 6
        assert stats["messages_out"] == 1 and stats["bytes_out"] == 5


@pytest.mark.usefixtures("host_loop")
async def test_pause_and_resume_stop_and_restart_reading() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.pause()
        ws.resume()
        got.put(await ws.recv())

    async with running(handler) as (_, url), connect(url) as client:
        await client.send("after resume")
        assert await got.get() == "after resume"


@pytest.mark.usefixtures("host_loop")
async def test_try_send_queues_without_waiting_and_drops_what_is_over_the_hard_limit() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.pause()
        results = [ws.try_send(b"x" * 40_000), ws.try_send(b"x" * 40_000), ws.try_send(b"x" * 200_000)]
        got.put(results)
        await ws.recv()

    async with running(handler, write_limit=(32_768, 8_192)) as (_, url), connect(url, max_size=None):
        first, second, third = await got.get()
        assert first in ("sent", "buffered") and second in ("sent", "buffered")
        assert third == "dropped"


async def test_server_close_without_closing_connections_keeps_them_open() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        async for m in ws:
            await ws.send(m)

    async with running(handler) as (server, url), connect(url) as client:
        await client.send("before")
        assert await within(client.recv()) == "before"
        server.close(close_connections=False)
        await client.send("after")
        assert await within(client.recv()) == "after"
