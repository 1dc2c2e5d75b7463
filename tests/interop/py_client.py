#!/usr/bin/env python3
"""Interop scenarios driven by the Python `websockets` client (asyncio API).

usage: py_client.py --url ws[s]://127.0.0.1:PORT [--suite echo|scenarios] [--no-deflate-offered] [--ca CERT]

`echo` runs the scenarios any echo server must pass (the echo-server contract: every message comes back
unchanged); `scenarios` adds the server-side close paths of SPEC §6 served by `core/examples/scenarios.rs`.
Prints one line per scenario; exits 1 if any failed. Every wait is bounded.
"""
import argparse
import asyncio
import os
import ssl
import sys
import traceback
import urllib.request

import websockets
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Opcode

TIMEOUT = 10.0
SCENARIOS = []


def scenario(suite):
    def register(fn):
        SCENARIOS.append((suite, fn))
        return fn

    return register


class Ctx:
    def __init__(self, url, deflate_offered, ca=None):
        self.base = url.rstrip("/")
        self.deflate_offered = deflate_offered
        # wss:// against a server whose certificate is `ca` (self-signed): verified, not skipped.
        self.ssl = ssl.create_default_context(cafile=ca) if ca else None

    def connect(self, path="/echo", compression="deflate", **kw):
        if self.ssl is not None:
            kw.setdefault("ssl", self.ssl)
        return connect(self.base + path, compression=compression, max_size=None, ping_interval=None,
                       open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kw)


async def recv(ws):
    async with asyncio.timeout(TIMEOUT):
        return await ws.recv()


async def closed_with(ws):
    """Waits for the end of the connection and returns the Close frame received (None if none)."""
    async with asyncio.timeout(TIMEOUT):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as e:
            return e
    raise AssertionError("unreachable")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def extensions(ws):
    return ws.response.headers.get("Sec-WebSocket-Extensions")


async def roundtrip_modes(ctx, body):
    """Runs `body(ws)` with compression off and on, checking what was negotiated."""
    for compression in (None, "deflate"):
        async with ctx.connect(compression=compression) as ws:
            ext = extensions(ws)
            if compression is None:
                check(ext is None, "no extension may be negotiated without an offer, got %r" % ext)
            elif ctx.deflate_offered:
                check(ext is not None and ext.startswith("permessage-deflate"),
                      "permessage-deflate should be negotiated, got %r" % ext)
            await body(ws)


@scenario("echo")
async def text_messages_come_back_as_text_with_and_without_compression(ctx):
    async def body(ws):
        for msg in ("hello", "", "héllo wörld ✓ 🎉", "repeat " * 5000):
            await ws.send(msg)
            got = await recv(ws)
            check(isinstance(got, str) and got == msg, "text echo mismatch (%d chars)" % len(msg))

    await roundtrip_modes(ctx, body)


@scenario("echo")
async def binary_messages_come_back_as_binary_with_and_without_compression(ctx):
    async def body(ws):
        for msg in (b"\x00\x01\x02", b"", os.urandom(70_000), b"z" * (1 << 20)):
            await ws.send(msg)
            got = await recv(ws)
            check(isinstance(got, bytes) and got == msg, "binary echo mismatch (%d bytes)" % len(msg))

    await roundtrip_modes(ctx, body)


@scenario("echo")
async def a_fragmented_message_comes_back_as_one_message(ctx):
    async def body(ws):
        parts = ["frag-%d " % i for i in range(50)]
        await ws.send(parts)
        check(await recv(ws) == "".join(parts), "fragmented text not reassembled")
        bparts = [bytes([i]) * 1000 for i in range(20)]
        await ws.send(bparts)
        check(await recv(ws) == b"".join(bparts), "fragmented binary not reassembled")

    await roundtrip_modes(ctx, body)


@scenario("echo")
async def a_client_allowing_only_a_256_byte_server_window_gets_correct_echoes(ctx):
    factory = ClientPerMessageDeflateFactory(server_max_window_bits=8)
    async with ctx.connect(compression=None, extensions=[factory]) as ws:
        ext = extensions(ws)
        if ctx.deflate_offered:
            check(ext == "permessage-deflate; server_max_window_bits=8", "negotiated %r" % ext)
        for msg in ("window " * 10000, "another message " * 3000, os.urandom(5000)):
            await ws.send(msg)  # the client compresses with its full window; the server may not
            check(await recv(ws) == msg, "echo mismatch with server_max_window_bits=8")


@scenario("echo")
async def a_ping_is_answered_with_a_pong_carrying_the_same_payload(ctx):
    async with ctx.connect() as ws:
        for payload in (b"", b"ping-payload", b"x" * 125):
            pong = await ws.ping(payload)
            async with asyncio.timeout(TIMEOUT):
                await pong  # websockets matches the Pong by payload
        await ws.send("still open")
        check(await recv(ws) == "still open", "echo after pings")


@scenario("echo")
async def a_client_close_with_a_code_is_echoed_with_that_code(ctx):
    async with ctx.connect() as ws:
        await ws.close(4000, "client says bye")
        check(ws.protocol.close_rcvd is not None, "no Close frame received")
        check(ws.protocol.close_rcvd.code == 4000, "server echoed %r" % ws.protocol.close_rcvd)


@scenario("echo")
async def a_client_close_without_a_code_is_echoed_empty(ctx):
    async with ctx.connect() as ws:
        await ws.close(None)  # an empty Close frame
        check(ws.protocol.close_rcvd is not None, "no Close frame received")
        check(ws.protocol.close_rcvd.code == 1005, "server echoed %r" % ws.protocol.close_rcvd)


@scenario("echo")
async def invalid_utf8_in_a_text_message_closes_with_1007(ctx):
    async with ctx.connect(compression=None) as ws:
        await ws.send(b"valid then \xff\xfe", text=True)
        e = await closed_with(ws)
        check(e.rcvd is not None and e.rcvd.code == 1007, "expected Close 1007, got %r" % e.rcvd)
        check(isinstance(e, ConnectionClosedError), "1007 must surface as ConnectionClosedError")


@scenario("scenarios")
async def the_handler_returning_closes_with_1000(ctx):
    async with ctx.connect("/close-1000-after-first") as ws:
        await ws.send("first")
        check(await recv(ws) == "first", "first message echoed")
        e = await closed_with(ws)
        check(isinstance(e, ConnectionClosedOK) and e.rcvd.code == 1000, "expected Close 1000, got %r" % e.rcvd)


@scenario("scenarios")
async def a_server_close_with_a_custom_code_and_reason_reaches_the_client(ctx):
    async with ctx.connect("/close-4000-after-first") as ws:
        await ws.send("first")
        check(await recv(ws) == "first", "first message echoed")
        e = await closed_with(ws)
        check(e.rcvd is not None and (e.rcvd.code, e.rcvd.reason) == (4000, "custom reason"),
              "expected Close 4000 'custom reason', got %r" % e.rcvd)


@scenario("scenarios")
async def a_failing_handler_closes_with_1011(ctx):
    async with ctx.connect("/raise") as ws:
        await ws.send("first")
        check(await recv(ws) == "first", "first message echoed")
        e = await closed_with(ws)
        check(isinstance(e, ConnectionClosedError) and e.rcvd is not None and e.rcvd.code == 1011,
              "expected Close 1011, got %r" % e.rcvd)


@scenario("scenarios")
async def terminate_ends_the_connection_without_a_close_frame(ctx):
    async with ctx.connect("/terminate") as ws:
        await ws.send("first")
        check(await recv(ws) == "first", "first message echoed")
        e = await closed_with(ws)
        check(e.rcvd is None, "no Close frame expected, got %r" % e.rcvd)
        check(ws.close_code == 1006, "client should report 1006, got %r" % ws.close_code)


@scenario("scenarios")
async def a_message_over_max_frame_size_closes_with_1009(ctx):
    for compression in (None, "deflate"):
        async with ctx.connect("/max-1k", compression=compression) as ws:
            await ws.send("x" * 1024)
            check(await recv(ws) == "x" * 1024, "a message at the limit is echoed")
            await ws.send(os.urandom(2000) if compression is None else b"y" * 100_000)
            e = await closed_with(ws)
            check(e.rcvd is not None and e.rcvd.code == 1009, "expected Close 1009 (%s), got %r" % (compression, e.rcvd))


@scenario("scenarios")
async def a_missing_pong_closes_with_1011_ping_timeout(ctx):
    async with ctx.connect("/ping-timeout") as ws:
        send_frame = ws.protocol.send_frame
        ws.protocol.send_frame = lambda f: None if f.opcode is Opcode.PONG else send_frame(f)
        e = await closed_with(ws)
        check(e.rcvd is not None and (e.rcvd.code, e.rcvd.reason) == (1011, "ping timeout"),
              "expected Close 1011 'ping timeout', got %r" % e.rcvd)


@scenario("scenarios")
async def server_shutdown_closes_every_session_with_1001(ctx):
    http = ctx.base.replace("ws://", "http://", 1) + "/spawn-shutdown"
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(None, lambda: urllib.request.urlopen(http, timeout=TIMEOUT).read().decode())
    async with connect("ws://127.0.0.1:%s/" % port, open_timeout=TIMEOUT, ping_interval=None) as other, \
            connect("ws://127.0.0.1:%s/" % port, open_timeout=TIMEOUT, ping_interval=None) as ws:
        await ws.send("first")
        check(await recv(ws) == "first", "first message echoed")
        for conn in (ws, other):
            e = await closed_with(conn)
            check(isinstance(e, ConnectionClosedOK) and e.rcvd is not None and e.rcvd.code == 1001,
                  "expected Close 1001, got %r" % e.rcvd)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--suite", choices=("echo", "scenarios"), default="echo")
    ap.add_argument("--no-deflate-offered", action="store_true", help="the server does not offer compression")
    ap.add_argument("--ca", help="PEM certificate to trust for wss:// (the server's self-signed one)")
    a = ap.parse_args()
    ctx = Ctx(a.url, not a.no_deflate_offered, a.ca)
    suites = ("echo",) if a.suite == "echo" else ("echo", "scenarios")
    failed = 0
    for suite, fn in SCENARIOS:
        if suite not in suites:
            continue
        name = fn.__name__.replace("_", " ")
        try:
            async with asyncio.timeout(60):
                await fn(ctx)
            print("  ok   python websockets %s: %s" % (websockets.__version__, name))
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("  FAIL python websockets %s: %s: %s: %s" % (websockets.__version__, name, type(e).__name__, e))
            traceback.print_exc(limit=3, file=sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
