"""SPEC behaviours that need a misbehaving peer: a raw socket client speaks the frames by hand."""

from __future__ import annotations

import asyncio
import base64
import os
import struct

import pytest

import wssession
from conftest import Box, running, until, within


async def raw_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Opens a WebSocket connection by hand and returns the stream after the 101."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head: bytes = await within(reader.readuntil(b"\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame."""
    out = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        out.append(bit | n)
    elif n < 65536:
        out.append(bit | 126)
        out += struct.pack("!H", n)
    else:
        out.append(bit | 127)
        out += struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        out += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(out + payload)


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One (unmasked) server frame: (opcode, payload)."""
    b0, b1 = await within(reader.readexactly(2))
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await within(reader.readexactly(2)))
    elif n == 127:
        (n,) = struct.unpack("!Q", await within(reader.readexactly(8)))
    payload: bytes = await within(reader.readexactly(n))
    return b0 & 0x0F, payload


def close_code(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else 1005


async def capture_end(ws: wssession.ServerConnection, box: Box) -> None:
    try:
        async for _ in ws:
            pass
        ok = True
    except wssession.ConnectionClosedError:
        ok = False
    reason = await ws.wait_closed()
    box.put((ok, reason.code, reason.reason, reason.initiator))


@pytest.mark.usefixtures("host_loop")
async def test_unmasked_client_frame_closes_with_1002() -> None:
    box = Box()
    async with running(lambda ws: capture_end(ws, box)) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(1, b"hi", mask=False))
        op, payload = await read_frame(reader)
        assert (op, close_code(payload)) == (8, 1002)
        ok, code, _, initiator = await box.get()
        assert (ok, code, initiator) == (False, 1002, "local")
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_the_close_reason_names_the_violation_the_engine_detected() -> None:
    cases = [
        (frame(1, b"hi", mask=False), 1002, "unmasked"),
        (frame(0, b"x"), 1002, "unexpected_continuation"),
        (frame(8, b"\x03"), 1002, "control_payload_length"),
        (frame(1, b"\xff"), 1007, "invalid_utf8"),
        (bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 40) + os.urandom(4), 1009, "too_big"),
    ]
    for data, want_code, want_kind in cases:
        got = Box()

        async def handler(ws: wssession.ServerConnection) -> None:
            got.put(await ws.wait_closed())

        async with running(handler) as (server, _):
            reader, writer = await raw_client(server.port)
            writer.write(data)
            reason = await got.get()
            assert (reason.code, reason.initiator, reason.violation) == (want_code, "local", want_kind)
            writer.close()
    clean = Box()

    async def closes(ws: wssession.ServerConnection) -> None:
        await ws.close(1002, "chosen by the handler")
        clean.put(await ws.wait_closed())

    async with running(closes) as (server, _):
        reader, writer = await raw_client(server.port)
        assert (await read_frame(reader))[0] == 8
        writer.write(frame(8, struct.pack("!H", 1002)))
        assert (await clean.get()).violation is None, "a close the handler chose is no violation"
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_invalid_utf8_text_closes_with_1007() -> None:
    box = Box()
    async with running(lambda ws: capture_end(ws, box)) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(1, b"\xff\xfe"))
        op, payload = await read_frame(reader)
        assert (op, close_code(payload)) == (8, 1007)
        writer.write(frame(8, payload[:2]))
        assert (await box.get())[1] == 1007
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_a_failed_connection_is_closed_right_after_its_close_frame() -> None:
    # A frame header declaring 2**40 bytes, then more bytes: the server sends 1009 and closes TCP
    # at once (RFC 6455 §7.1.7) instead of waiting close_timeout (a minute here) for a Close.
    box = Box()
    async with running(lambda ws: capture_end(ws, box), close_timeout=60) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 40) + os.urandom(4) + b"x" * 4096)
        op, payload = await read_frame(reader)
        assert (op, close_code(payload)) == (8, 1009)
        assert await within(reader.read()) == b"", "EOF right after the Close"
        ok, code, _, initiator = await box.get()
        assert (ok, code, initiator) == (False, 1009, "local")
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_a_ping_flood_from_a_client_that_reads_nothing_queues_a_bounded_amount_of_pongs() -> None:
    # The benchmark server's large write limit; the automatic Pongs still stop at their own bound
    # (64 KiB) and the server stops reading, so the flood of a million pings is held back.
    bound = 64 * 1024 + 127
    conn = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        conn.put(ws)
        await ws.wait_closed()

    async with running(handler, write_limit=2**27, ping_interval=None) as (server, _):
        reader, writer = await raw_client(server.port)
        ws = await conn.get()
        pings = frame(9, b"p" * 125) * 1000

        async def flood() -> None:
            for _ in range(1000):
                writer.write(pings)
                await writer.drain()

        flooding = asyncio.ensure_future(flood())
        # Where the queue stops depends on how much of a pong the last write took: half the bound shows
        # the pongs piling up; the bound itself is never passed.
        await until(lambda: ws.buffered_amount >= 32 * 1024)
        for _ in range(20):
            assert ws.buffered_amount <= bound, ws.buffered_amount
            await asyncio.sleep(0)
        assert not flooding.done(), "TCP backpressure holds the flood back"
        flooding.cancel()
        writer.transport.abort()


@pytest.mark.usefixtures("host_loop")
async def test_missed_pong_closes_with_1011_ping_timeout() -> None:
    box = Box()
    options = dict(ping_interval=0.05, ping_timeout=0.1, close_timeout=0.5)
    async with running(lambda ws: capture_end(ws, box), **options) as (server, _):
        reader, writer = await raw_client(server.port)
        while True:  # ignore the pings; bounded by read_frame's timeout
            op, payload = await read_frame(reader)
            if op == 8:
                break
            assert op == 9
        assert close_code(payload) == 1011 and payload[2:] == b"ping timeout"
        writer.write(frame(8, payload[:2]))
        assert await box.get() == (False, 1011, "ping timeout", "local")
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_an_empty_close_from_the_peer_is_1005_and_ok() -> None:
    box = Box()
    async with running(lambda ws: capture_end(ws, box)) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(8, b""))
        op, payload = await read_frame(reader)
        assert (op, payload) == (8, b"")
        assert await box.get() == (True, 1005, "", "remote")
        writer.close()


async def test_connection_closed_reports_the_close_frames_that_crossed_the_wire() -> None:
    async def capture(ws: wssession.ServerConnection, box: Box) -> None:
        try:
            await ws.recv()
        except wssession.ConnectionClosed as exc:
            sent = None if exc.sent is None else (exc.sent.code, exc.sent.reason)
            rcvd = None if exc.rcvd is None else (exc.rcvd.code, exc.rcvd.reason)
            box.put((type(exc).__name__, rcvd, sent, exc.rcvd_then_sent))

    # The peer's empty Close is echoed empty: both read 1005 (websockets' parse of an empty body).
    box = Box()
    async with running(lambda ws: capture(ws, box)) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(8, b""))
        assert await read_frame(reader) == (8, b"")
        assert await box.get() == ("ConnectionClosedOK", (1005, ""), (1005, ""), True)
        writer.close()

    # We close with 4000; the peer answers with 1000 and its own reason.
    box = Box()

    async def closes_first(ws: wssession.ServerConnection) -> None:
        ws.close_timeout = 30
        await ws.close(4000, "going")
        await capture(ws, box)

    async with running(closes_first) as (server, _):
        reader, writer = await raw_client(server.port)
        assert (await read_frame(reader))[0] == 8
        writer.write(frame(8, struct.pack("!H", 1000) + b"ok then"))
        assert await box.get() == ("ConnectionClosedError", (1000, "ok then"), (4000, "going"), False)
        writer.close()

    # A failed connection sent its Close and received none.
    box = Box()
    async with running(lambda ws: capture(ws, box)) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(1, b"hi", mask=False))
        assert await box.get() == ("ConnectionClosedError", None, (1002, "client frames must be masked"), None)
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_pings_are_answered_with_the_same_payload_and_fragments_are_reassembled() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        got.put(await ws.recv())
        await ws.wait_closed()

    async with running(handler) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(9, b"are you there"))
        assert await read_frame(reader) == (10, b"are you there")
        writer.write(frame(1, b"frag", fin=False) + frame(9, b"p") + frame(0, b"mented"))
        assert await read_frame(reader) == (10, b"p")
        assert await got.get() == "fragmented"
        writer.write(frame(8, struct.pack("!H", 1000)))
        assert (await read_frame(reader))[0] == 8
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_recv_streaming_yields_pieces_that_join_into_the_fragmented_message() -> None:
    text, raw = Box(), Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        text.put([piece async for piece in ws.recv_streaming()])
        raw.put([piece async for piece in ws.recv_streaming(decode=False)])
        await ws.wait_closed()

    async with running(handler) as (server, _):
        reader, writer = await raw_client(server.port)
        writer.write(frame(1, b"stre", fin=False) + frame(0, b"am", fin=False) + frame(0, "ed \u00e9".encode()))
        assert "".join(await text.get()) == "streamed \u00e9"
        writer.write(frame(1, b"as bytes"))
        assert b"".join(await raw.get()) == b"as bytes"
        writer.write(frame(8, struct.pack("!H", 1000)))
        assert (await read_frame(reader))[0] == 8
        writer.close()


@pytest.mark.usefixtures("host_loop")
async def test_close_timeout_bounds_the_closing_handshake() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        ws.close_timeout = 0.1
        await ws.close(4000, "bye")
        reason = await ws.wait_closed()
        box.put((reason.code, reason.initiator))

    async with running(handler) as (server, _):
        reader, writer = await raw_client(server.port)
        op, payload = await read_frame(reader)  # the Close, which we never answer
        assert (op, close_code(payload)) == (8, 4000)
        assert await box.get() == (4000, "local")
        writer.close()
