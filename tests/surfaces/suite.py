#!/usr/bin/env python3
"""Same behaviour, proven: one scenario suite run against the Rust, C, Python and Node scenario servers.

    suite.py [--surface core|c|python|node ...] [--only SUBSTRING] [--doc CONFORMANCE.md [--write-doc]]

This module is the one definition of the scenarios: every wire-observable rule of SPEC.md and every
Ktor member's effect on a live session, each a function below registered with `@scenario`. Each
surface has a scenario server (see README.md: same control messages, same configuration); the
driver starts each one, runs every scenario against it with the Python `websockets` client or the raw
client of wire.py (violations, masking, exact frames) and prints one table, scenario x surface.

A cell is `pass`, `FAIL` or `absent` — and `absent` only comes from ABSENT below (mirrored in the
README and SPEC notes). A server that is missing, fails to build or dies is a failure, never a skip.
Exits 1 when any cell failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from wire import GUID, TIMEOUT, Raw, http_exchange, upgrade_head, wait_for

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

SURFACES = ("core", "c", "python", "node")


def server_command(surface: str, port: int, tls: tuple[str, str] | None) -> list[str]:
    """How each surface's scenario server is started (built by `make surfaces-deps`)."""
    tls_args = ["--tls", *tls] if tls else []
    return {
        "core": [str(TARGET / "release/examples/scenario_server"), "--port", str(port), *tls_args],
        "c": [str(ROOT / "target/c/scenario_server"), "--port", str(port), *tls_args],
        "python": [str(ROOT / ".venv/bin/python"), str(HERE / "servers/scenario_server.py"), "--port", str(port), *tls_args],
        "node": ["node", str(HERE / "servers/scenario_server.js"), "--port", str(port), *tls_args],
    }[surface]


# Members a surface deliberately lacks: (scenario id, surface) -> why. The README's "Declared absences"
# and SPEC notes say the same; nothing else may produce an `absent` cell.
ABSENT: dict[tuple[str, str], str] = {
    ("handler-return-1000", "c"): "C is callback-based: there is no handler whose return closes the session",
    ("handler-error-1011", "c"): "C is callback-based: there is no handler that can fail",
    ("handler-return-1000", "node"): "Node follows ws: sessions are event emitters, there is no handler to return from",
    ("handler-error-1011", "node"): "Node follows ws: sessions are event emitters, there is no handler to throw from",
    ("try-send-results", "node"): "Node follows ws: send() never drops (over the hard limit it returns a Promise that waits); there is no trySend",
    ("serialize-json-default", "c"): "C has no JSON value type, so no default converter: a session starts without one (wss_session_set_converter)",
}

# ---------------------------------------------------------------------------------------------------
# Scenario registry


@dataclass
class Scenario:
    id: str
    title: str
    rule: str
    fn: Callable[["Ctx"], None]


SCENARIOS: list[Scenario] = []


def scenario(id: str, title: str, rule: str) -> Callable[[Callable[["Ctx"], None]], Callable[["Ctx"], None]]:
    def register(fn: Callable[["Ctx"], None]) -> Callable[["Ctx"], None]:
        SCENARIOS.append(Scenario(id, title, rule, fn))
        return fn

    return register


class Ctx:
    """What a scenario gets: the surface's port, its certificate (for TLS) and helpers."""

    def __init__(self, surface: str, port: int, cert: str, key: str) -> None:
        self.surface, self.port, self.cert, self.key = surface, port, cert, key
        self.events_port = port  # where the push-style /events handler runs (!events_port)

    def raw(self, path: str = "/s", **kw) -> Raw:  # type: ignore[no-untyped-def]
        return Raw(self.port, path, **kw)

    def tagged(self, path: str = "/s", **kw) -> tuple[Raw, str]:  # type: ignore[no-untyped-def]
        """A raw connection whose closeReason the server records under a fresh tag."""
        r = self.raw(path, **kw)
        tag = uuid.uuid4().hex[:12]
        check(r.cmd(f"!tag {tag}") == "ok", "!tag answered")
        return r, tag

    def note(self, key: str) -> str:
        r = self.raw()
        try:
            return r.cmd(f"!note {key}")
        finally:
            r.close()

    def wait_note(self, key: str, pred: Callable[[str], bool] = lambda v: v != "-") -> str:
        return str(wait_for(f"note {key}", lambda: (lambda v: v if pred(v) else None)(self.note(key))))

    def close_reason(self, tag: str) -> str:
        """The server-side closeReason of the session tagged `tag`: "CODE INITIATOR REASON"."""
        return self.wait_note(f"close:{tag}")

    def ws(self, path: str = "/s", **kw):  # type: ignore[no-untyped-def]
        kw.setdefault("compression", None)
        return connect(f"ws://127.0.0.1:{self.port}{path}", max_size=None, ping_interval=None,
                       open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kw)


def check(cond: object, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def eq(got: object, want: object, what: str) -> None:
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 4 * TIMEOUT))


def violation(ctx: Ctx, send: Callable[[Raw], None], code: int) -> None:
    r, tag = ctx.tagged()
    send(r)
    got, _ = r.expect_close()
    r.close()
    eq(got, code, "Close code sent by the server")
    reason = ctx.close_reason(tag)
    eq(reason.split(" ")[:2], [str(code), "local"], "server-side closeReason")


# ---------------------------------------------------------------------------------------------------
# §2 handshake


@scenario("handshake-101", "upgrade answered 101 with the accept key", "§2.1, §2.5")
def _handshake(ctx: Ctx) -> None:
    import base64
    import hashlib

    key = base64.b64encode(os.urandom(16)).decode()
    status, headers, _, sock, _ = http_exchange(ctx.port, upgrade_head(key=key))
    sock.close()
    eq(status, 101, "status")
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    eq(headers.get("sec-websocket-accept"), want, "Sec-WebSocket-Accept")


@scenario("handshake-bad-version-426", "wrong Sec-WebSocket-Version gets 426 naming 13", "§2.1")
def _bad_version(ctx: Ctx) -> None:
    status, headers, _, sock, _ = http_exchange(ctx.port, upgrade_head(version="8"))
    sock.close()
    eq(status, 426, "status")
    eq(headers.get("sec-websocket-version"), "13", "Sec-WebSocket-Version")


@scenario("handshake-bad-key-400", "a key that is not 16 bytes of base64 gets 400", "§2.1")
def _bad_key(ctx: Ctx) -> None:
    status, _, _, sock, _ = http_exchange(ctx.port, upgrade_head(key="c2hvcnQ="))
    sock.close()
    eq(status, 400, "status")


@scenario("accept-hook-reject", "the accept hook rejects with its status and body", "§2.3")
def _reject(ctx: Ctx) -> None:
    status, headers, body, sock, _ = http_exchange(ctx.port, upgrade_head("/reject"))
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    sock.close()
    eq(status, 403, "status")
    eq(body, b"rejected by hook", "body")


@scenario("subprotocol", "the server's choice among the offered subprotocols is in the 101", "§2.3, §2.5")
def _subprotocol(ctx: Ctx) -> None:
    async def go() -> None:
        async with ctx.ws(subprotocols=["alpha", "beta"]) as ws:
            eq(ws.subprotocol, "beta", "chosen subprotocol (server prefers beta)")
            await ws.send("!subprotocol")
            eq(await ws.recv(), "beta", "session's view of the subprotocol")
        async with ctx.ws() as ws:
            eq(ws.subprotocol, None, "no subprotocol when none offered")

    run(go())


@scenario("deflate-params", "permessage-deflate window bits and no_context_takeover in the 101, then used", "§2.4, §7.1")
def _deflate(ctx: Ctx) -> None:
    offer = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10; server_no_context_takeover; client_max_window_bits\r\n"
    r = ctx.raw(extra=offer)
    ext = r.headers.get("sec-websocket-extensions", "")
    r.close()
    params = {p.strip() for p in ext.split(";")}
    check("permessage-deflate" in params, f"permessage-deflate negotiated ({ext!r})")
    check("server_max_window_bits=10" in params, f"server_max_window_bits=10 answered ({ext!r})")
    check("server_no_context_takeover" in params, f"server_no_context_takeover answered ({ext!r})")

    async def go() -> None:
        factory = ClientPerMessageDeflateFactory(server_max_window_bits=10, server_no_context_takeover=True)
        async with ctx.ws(compression=None, extensions=[factory]) as ws:
            for _ in range(3):  # no context takeover: each message decodes on its own
                await ws.send("compress me " * 100)
                eq(await ws.recv(), "compress me " * 100, "compressed echo")

    run(go())


# ---------------------------------------------------------------------------------------------------
# §3 incoming, §4 outgoing


@scenario("echo-text-binary", "Text stays Text, Binary stays Binary", "§3.1, §4.1")
def _echo(ctx: Ctx) -> None:
    async def go() -> None:
        async with ctx.ws() as ws:
            await ws.send("héllo")
            eq(await ws.recv(), "héllo", "text echo")
            await ws.send(b"\x00\x01\xff")
            eq(await ws.recv(), b"\x00\x01\xff", "binary echo")

    run(go())


@scenario("incoming-fragments", "a fragmented message arrives reassembled, once", "§3.1")
def _incoming_fragments(ctx: Ctx) -> None:
    r = ctx.raw()
    r.send_frame(1, "frag".encode(), fin=False)
    r.send_frame(9, b"mid")  # a control frame between fragments is allowed
    r.send_frame(0, "ment".encode(), fin=False)
    r.send_frame(0, "ed".encode(), fin=True)
    while True:
        f = r.next_data(answer_pings=False)
        if f.opcode in (1, 2):
            break
    r.close()
    eq((f.opcode, f.fin, f.payload), (1, True, b"fragmented"), "echoed message")


@scenario("ping-pong", "every Ping is answered with a Pong of the same payload; unsolicited Pongs ignored", "§3.2")
def _ping(ctx: Ctx) -> None:
    r = ctx.raw()
    r.send_frame(10, b"unsolicited")
    r.send_frame(9, b"payload-1")
    f = r.frame("the Pong")
    eq((f.opcode, f.payload), (10, b"payload-1"), "Pong")
    eq(r.cmd("still"), "still", "session still echoes")
    r.close()


@scenario("send-fragments", "send with fin=false fragments one message: continuation frames, one message", "§4.1")
def _send_fragments(ctx: Ctx) -> None:
    r = ctx.raw()
    r.text("!fragments ab cd ef")
    frames = [r.next_data() for _ in range(3)]
    r.close()
    eq([(f.opcode, f.fin, f.payload) for f in frames], [(1, False, b"ab"), (0, False, b"cd"), (0, True, b"ef")], "frames")


@scenario("bad-arguments", "close 1005, a 124-byte reason, a 126-byte Ping are refused; nothing is sent", "§4.5")
def _bad_args(ctx: Ctx) -> None:
    r = ctx.raw()
    eq(r.cmd("!bad_args"), "invalid invalid invalid", "each refused")
    eq(r.cmd("after"), "after", "session still open, nothing else on the wire")
    r.close()


@scenario("send-after-close-closed", "send fails with Closed once the session closes", "§1 send, §4.4")
def _after_close(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.text("!after_close")
    code, _ = r.expect_close()
    r.close()
    eq(code, 1000, "Close code")
    eq(ctx.wait_note(f"after_close_send:{tag}"), "closed", "send after close")


# ---------------------------------------------------------------------------------------------------
# §6 closing rows


@scenario("close-local", "close(4000, reason): Close(4000, reason) sent; closeReason {4000, reason, local}", "§6")
def _close_local(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.text("!close 4000 custom reason")
    code, reason = r.expect_close()
    r.close()
    eq((code, reason), (4000, "custom reason"), "Close frame")
    eq(ctx.close_reason(tag), "4000 local custom reason", "closeReason")


@scenario("close-remote", "peer Close(4002, bye): echoed Close(4002); closeReason {4002, bye, remote}", "§6")
def _close_remote(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.close_frame(4002, "bye")
    f = r.frame("the echoed Close")
    r.close()
    check(f.opcode == 8, "a Close frame echoed")
    eq(f.close_code()[0], 4002, "echoed code")
    eq(ctx.close_reason(tag), "4002 remote bye", "closeReason")


@scenario("close-remote-empty", "peer's empty Close: empty Close echoed; closeReason {1005, remote}", "§6")
def _close_empty(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.close_frame()
    f = r.frame("the echoed Close")
    r.close()
    check(f.opcode == 8, "a Close frame echoed")
    eq(f.payload, b"", "echoed Close payload")
    eq(ctx.close_reason(tag).strip(), "1005 remote", "closeReason")


@scenario("handler-return-1000", "the handler returns: Close(1000); closeReason {1000, local}", "§6")
def _handler_return(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.text("!return")
    code, _ = r.expect_close()
    r.close()
    eq(code, 1000, "Close code")
    eq(ctx.close_reason(tag).split(" ")[:2], ["1000", "local"], "closeReason")


@scenario("handler-error-1011", "the handler fails: Close(1011); closeReason {1011, local}", "§6")
def _handler_error(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.text("!raise")
    code, _ = r.expect_close()
    r.close()
    eq(code, 1011, "Close code")
    eq(ctx.close_reason(tag).split(" ")[:2], ["1011", "local"], "closeReason")


@scenario("terminate-1006", "terminate(): no Close frame, socket shut; closeReason {1006, abnormal}", "§1 terminate, §6")
def _terminate(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.text("!terminate")
    r.expect_eof_without_close()
    r.close()
    eq(ctx.close_reason(tag).strip(), "1006 abnormal", "closeReason")


@scenario("peer-reset-1006", "TCP reset by the peer: closeReason {1006, abnormal}", "§6")
def _reset(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.send_frame(2, b"x" * 1000, fin=False)  # mid-message
    r.reset()
    eq(ctx.close_reason(tag).strip(), "1006 abnormal", "closeReason")


@scenario("peer-eof-1006", "the peer half-closes (EOF) without a Close: closeReason {1006, abnormal}", "§6")
def _eof(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.sock.shutdown(socket.SHUT_WR)
    r.expect_eof_without_close()
    r.close()
    eq(ctx.close_reason(tag).strip(), "1006 abnormal", "closeReason")


# violations: §3.3, §6
@scenario("violation-unmasked-1002", "unmasked client frame: Close 1002", "§3.3")
def _v_unmasked(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.send_frame(1, b"plain", mask=False), 1002)


@scenario("violation-rsv-1002", "RSV2 set without an extension: Close 1002", "§3.3")
def _v_rsv(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.send_frame(1, b"x", rsv=2), 1002)


@scenario("violation-opcode-1002", "unknown opcode 3: Close 1002", "§3.3")
def _v_opcode(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.send_frame(3, b"x"), 1002)


@scenario("violation-continuation-1002", "continuation without a start: Close 1002", "§3.3")
def _v_cont(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.send_frame(0, b"x"), 1002)


@scenario("violation-interleaved-1002", "a new data frame inside a fragmented message: Close 1002", "§3.3")
def _v_interleave(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.frames((1, b"a", False), (2, b"b", True)), 1002)


@scenario("violation-control-1002", "fragmented Ping and a 126-byte Ping: Close 1002", "§3.3")
def _v_control(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.send_frame(9, b"x", fin=False), 1002)
    violation(ctx, lambda r: r.send_frame(9, b"x" * 126), 1002)


@scenario("violation-close-code-1002", "invalid close code received (1005, 2999): Close 1002", "§3.3")
def _v_code(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.close_frame(1005), 1002)
    violation(ctx, lambda r: r.close_frame(2999), 1002)


@scenario("violation-utf8-1007", "invalid UTF-8 in Text (across fragments) and in a Close reason: Close 1007", "§3.3")
def _v_utf8(ctx: Ctx) -> None:
    violation(ctx, lambda r: r.frames((1, b"ok\xe2\x82", False), (0, b"\x28", True)), 1007)
    violation(ctx, lambda r: r.send_frame(8, b"\x03\xe8\xff\xfe"), 1007)


# ---------------------------------------------------------------------------------------------------
# Ktor members taking effect on a live session


@scenario("max-frame-size-live-1009", "maxFrameSize changed live: at the limit echoed, one byte over Close 1009", "§1 maxFrameSize, §3.3")
def _max_frame(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    eq(r.cmd("!max_frame_size 1024"), "ok", "set")
    r.send_frame(2, b"a" * 1024)
    eq(r.next_data().payload, b"a" * 1024, "1024-byte message echoed")
    r.send_frame(2, b"a" * 1025)
    code, _ = r.expect_close()
    r.close()
    eq(code, 1009, "Close code")
    eq(ctx.close_reason(tag).split(" ")[:2], ["1009", "local"], "closeReason")


@scenario("masking-live", "masking on: server frames masked (payload intact); off again: unmasked", "§1 masking, §4.6")
def _masking(ctx: Ctx) -> None:
    r = ctx.raw()
    r.send_frame(1, b"before")
    f = r.next_data()
    check(not f.masked, "unmasked by default")
    r.text("!masking 1")
    f = r.next_data()
    check(f.masked and f.payload == b"ok", f"reply to !masking 1 masked: {f}")
    r.send_frame(2, b"\x00masked\xff")
    f = r.next_data()
    check(f.masked and f.payload == b"\x00masked\xff", f"echo masked with the payload intact: {f}")
    r.text("!masking 0")
    f = r.next_data()
    check(not f.masked and f.payload == b"ok", f"reply to !masking 0 unmasked: {f}")
    r.close()


def _collect_pings(r: Raw, n: int) -> list[bytes]:
    pings: list[bytes] = []
    while len(pings) < n:
        f = r.frame("Pings while the pinger runs")
        if f.opcode == 9:
            pings.append(f.payload)
            r.send_frame(10, f.payload)
    return pings


@scenario("pinger-on-off-latency", "ping interval set live: unique Pings, latency measured; set to 0: no more Pings", "§1 pingIntervalMillis, §5.1, §5.2, §5.4")
def _pinger(ctx: Ctx) -> None:
    r = ctx.raw()
    eq(r.cmd("!latency"), "none", "latency before any Pong")
    eq(r.cmd("!ping_interval 50"), "ok", "pinger on")
    pings = _collect_pings(r, 3)
    eq(len(set(pings)), 3, "unique ping payloads")
    latency = r.cmd("!latency")
    check(latency != "none" and float(latency) >= 0, f"latency after a matched Pong: {latency}")
    eq(r.cmd("!ping_interval 0"), "ok", "pinger off")
    # Pings sent before the "ok" arrived before it; none may follow during ten former intervals.
    r.sock.settimeout(0.5)
    try:
        f = r.recv_frame()
    except TimeoutError:
        f = None
    r.sock.settimeout(TIMEOUT)
    check(f is None or f.opcode != 9, "a Ping after the pinger was turned off")
    eq(r.cmd("still"), "still", "session open")
    r.close()


@scenario("pong-timeout-live-1011", "timeout set live (60 s configured -> 200 ms): unanswered Ping gives Close 1011 ping timeout", "§1 timeoutMillis, §5.1, §6")
def _pong_timeout(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    eq(r.cmd("!timeout 200"), "ok", "timeout set")
    eq(r.cmd("!ping_interval 100"), "ok", "pinger on")
    while True:  # read without answering Pings
        f = r.frame("a Close before the end")
        if f.opcode == 8:
            break
    r.close()
    eq(f.close_code(), (1011, "ping timeout"), "Close frame")
    eq(ctx.close_reason(tag), "1011 local ping timeout", "closeReason")


@scenario("close-timeout-live", "closeTimeout set live (60 s configured -> 200 ms): unanswered Close, socket shut; code kept", "§1 closeTimeoutMillis, §5.3")
def _close_timeout(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    eq(r.cmd("!close_timeout 200"), "ok", "set")
    r.text("!close 4001 bye")
    f = r.frame("the Close frame")
    check(f.opcode == 8, "Close frame")
    eq(f.close_code(), (4001, "bye"), "Close frame")
    r.expect_eof_without_close()  # not answering: the server shuts the socket after the close timeout
    r.close()
    eq(ctx.close_reason(tag), "4001 local bye", "closeReason")


@scenario("flush-waits-for-reader", "flush() waits while the client does not read, completes once it does", "§1 flush")
def _flush(ctx: Ctx) -> None:
    size = 8 << 20  # well over the kernel's buffers (4 MiB send buffer, 16 KiB receive buffer here)
    r, tag = ctx.tagged(rcvbuf=16384)
    r.text(f"!flush {size}")
    state = ctx.wait_note(f"flush:{tag}", lambda v: v in ("flushing", "flushed", "error"))
    eq(state, "flushing", "flush pending while the client does not read")
    f = r.next_data()
    eq(len(f.payload), size, "the flushed message")
    eq(ctx.wait_note(f"flush:{tag}", lambda v: v != "flushing"), "flushed", "flush completed after reading")
    r.close()


@scenario("send-waits-backpressure", "a waiting send does not drop: it stalls while the client does not read, all arrive in order", "§1 send, §4.2")
def _send_wait(ctx: Ctx) -> None:
    size, count = 256 << 10, 64  # 16 MiB: over buffers plus the hard limit
    r, tag = ctx.tagged(rcvbuf=16384)
    r.text(f"!send_wait {size} {count}")
    done = ctx.wait_note(f"send:{tag}", lambda v: v != "-" and v != "0")
    check(done != "error" and int(done) < count, f"sends completed while not reading: {done} of {count}")
    for i in range(count):
        f = r.next_data()
        check(len(f.payload) == size and f.payload[0] == i % 256, f"message {i} in order")
    eq(ctx.wait_note(f"send:{tag}", lambda v: v == str(count) or v == "error"), str(count), "every send completed")
    r.close()


def _fill(ctx: Ctx) -> tuple[Raw, str, str]:
    r = Raw(ctx.events_port, "/events", rcvbuf=16384)
    tag = uuid.uuid4().hex[:12]
    eq(r.cmd(f"!tag {tag}"), "ok", "tag")
    r.text("!fill 262144 64")
    results = ctx.wait_note(f"try:{tag}")
    return r, tag, results


@scenario("try-send-results", "trySend while the client does not read: sent, then buffered, then dropped", "§4.2")
def _try_send(ctx: Ctx) -> None:
    r, _, results = _fill(ctx)
    r.close()
    check(results[0] == "s" and "b" in results and results[-1] == "d", f"results {results}")


@scenario("drain-event", "drain fires once the client reads the queue down", "§4.2")
def _drain(ctx: Ctx) -> None:
    r, tag, results = _fill(ctx)
    eq(ctx.note(f"drain:{tag}"), "-", "no drain before reading")
    queued = len(results) - results.count("d")
    for _ in range(queued):
        r.next_data()
    eq(ctx.wait_note(f"drain:{tag}"), "1", "drain after reading")
    r.close()


# ---------------------------------------------------------------------------------------------------
# §8 serialization, members


@scenario("serialize-json-default", "sendSerialized with the default converter: JSON in a Text frame", "§8.2")
def _ser(ctx: Ctx) -> None:
    r = ctx.raw()
    r.text("!serialize")
    f = r.next_data()
    r.close()
    eq(f.opcode, 1, "Text frame")
    eq(json.loads(f.payload), {"n": 1, "s": "é"}, "value")


@scenario("deserialize-error-frame", "receiveDeserialized: a value, then an undecodable frame gives Deserialize carrying it; session open", "§8.3")
def _deser(ctx: Ctx) -> None:
    r = ctx.raw()
    r.text("!deserialize")
    r.text('{"a": [1, 2]}')
    eq(json.loads(r.next_data().payload), {"got": {"a": [1, 2]}}, "decoded value")
    r.text("!deserialize")
    r.text("not json")
    eq(r.next_data().payload, b"error:deserialize not json", "error carrying the frame")
    eq(r.cmd("open"), "open", "session still open")
    r.close()


@scenario("converter-custom-none", "a custom converter produces Binary; no converter gives NoConverter", "§8.1, §8.2")
def _conv(ctx: Ctx) -> None:
    r = ctx.raw()
    eq(r.cmd("!converter custom"), "ok", "custom converter")
    r.text("!serialize")
    f = r.next_data()
    eq(f.opcode, 2, "Binary frame")
    check(f.payload.startswith(b"custom:"), f"custom encoding: {f.payload!r}")
    eq(json.loads(f.payload[len("custom:"):]), {"n": 1, "s": "é"}, "value")
    eq(r.cmd("!converter none"), "ok", "no converter")
    eq(r.cmd("!serialize"), "error:no_converter", "NoConverter")
    r.close()


@scenario("serialize-closed", "sendSerialized on a closed session fails with Closed", "§8.4")
def _ser_closed(ctx: Ctx) -> None:
    r, tag = ctx.tagged()
    r.text("!after_close")
    r.expect_close()
    r.close()
    eq(ctx.wait_note(f"after_close_ser:{tag}"), "closed", "sendSerialized after close")


@scenario("application", "application is the server that accepted the session", "§1 application")
def _app(ctx: Ctx) -> None:
    r = ctx.raw()
    eq(r.cmd("!application"), str(ctx.port), "port of the session's application")
    r.close()


@scenario("call-request", "call: method, path, query, and a repeated header looked up case-insensitively", "§1 call")
def _call(ctx: Ctx) -> None:
    r = ctx.raw("/s?room=1", extra="X-Test: one\r\nx-test: two\r\n")
    eq(r.cmd("!call"), "GET /s room=1 one,two", "the session's view of its upgrade request")
    r.close()


@scenario("tls", "wss:// with a PEM certificate: echo verified against it", "§9.1")
def _tls(ctx: Ctx) -> None:
    port = free_port()
    proc = start_server(ctx.surface, port, (ctx.cert, ctx.key))
    try:
        context = ssl.create_default_context(cafile=ctx.cert)

        async def go() -> None:
            async with connect(f"wss://127.0.0.1:{port}/s", ssl=context, open_timeout=TIMEOUT) as ws:
                await ws.send("secure")
                eq(await ws.recv(), "secure", "echo over TLS")
                await ws.send("!tls")
                eq(await ws.recv(), "true", "session sees TLS")

        run(go())
    finally:
        stop_server(proc)


# ---------------------------------------------------------------------------------------------------
# §14 topics


@scenario("topics-publish", "publish reaches the topic's subscribers, a session's publish all but the sender; subscriptions end with the session", "§14.1")
def _topics(ctx: Ctx) -> None:
    topic = "room-" + uuid.uuid4().hex[:12]

    async def ask(ws, line: str) -> object:  # type: ignore[no-untyped-def]
        await ws.send(line)
        return await ws.recv()

    def subscribers() -> str:
        r = ctx.raw()
        try:
            return r.cmd(f"!subscribers {topic}")
        finally:
            r.close()

    async def go() -> None:
        async with ctx.ws() as a, ctx.ws() as b, ctx.ws() as c:
            eq([await ask(ws, f"!subscribe {topic}") for ws in (a, b, a)], ["true", "true", "false"], "subscribe: new, new, again")
            eq(await ask(c, f"!subscribers {topic}"), "2", "subscriber count")
            await a.send(f"!publish {topic} from a")
            eq(await b.recv(), "from a", "a session's publish reaches the other subscriber")
            eq(await a.recv(), "ok", "the publishing session got nothing before its answer")
            eq(await ask(c, f"!server_publish {topic} to all"), "2", "server publish: delivered count (nothing for the non-subscriber first)")
            eq([await a.recv(), await b.recv()], ["to all", "to all"], "server publish reaches every subscriber")
            eq(await ask(a, "!topics"), topic, "the session's subscriptions")
            eq([await ask(b, f"!unsubscribe {topic}") for _ in range(2)], ["true", "false"], "unsubscribe: was, then no longer subscribed")
            eq(await ask(c, f"!server_publish {topic} only a"), "1", "after unsubscribe: delivered to the one left")
            eq(await a.recv(), "only a", "the subscriber left gets it")
            eq(await ask(b, "!topics"), "-", "no subscriptions left")
        wait_for("the closed sessions' subscriptions to end", lambda: subscribers() == "0")

    run(go())


@scenario("shutdown-1001", "server shutdown: Close 1001 to every session", "§6, §9.2")
def _shutdown(ctx: Ctx) -> None:
    port = free_port()
    proc = start_server(ctx.surface, port, None)
    try:
        bystander = Raw(port)
        r = Raw(port)
        r.text("!shutdown")
        eq(r.expect_close()[0], 1001, "Close code to the asking session")
        eq(bystander.expect_close()[0], 1001, "Close code to another session")
        r.close()
        bystander.close()
    finally:
        stop_server(proc)


# ---------------------------------------------------------------------------------------------------
# Driver


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


LOGS = TARGET / "surfaces"


def start_server(surface: str, port: int, tls: tuple[str, str] | None) -> subprocess.Popen[bytes]:
    """Starts the surface's scenario server and waits until it accepts; a missing one is an error."""
    cmd = server_command(surface, port, tls)
    if not Path(cmd[0]).exists() and cmd[0] != "node":
        raise AssertionError(f"{surface} scenario server missing: {cmd[0]} (make surfaces-deps builds it)")
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{surface}-{port}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{surface} scenario server exited ({proc.returncode}); see {log.name}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise AssertionError(f"{surface} scenario server did not listen within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tls_files() -> tuple[str, str]:
    d = TARGET / "surfaces/tls"
    cert, key = d / "cert.pem", d / "key.pem"
    if not (cert.exists() and key.exists()):
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
    return str(cert), str(key)


def run_surface(surface: str, scenarios: list[Scenario], cert: str, key: str) -> dict[str, str]:
    cells: dict[str, str] = {}
    port = free_port()
    try:
        proc = start_server(surface, port, None)
    except AssertionError as e:
        print(f"[{surface}] FAIL server: {e}", flush=True)
        return {s.id: "FAIL" for s in scenarios}
    ctx = Ctx(surface, port, cert, key)
    events_port = None
    try:
        for s in scenarios:
            if (s.id, surface) in ABSENT:
                cells[s.id] = "absent"
                continue
            if proc.poll() is not None:
                cells[s.id] = "FAIL"
                print(f"[{surface}] FAIL {s.id}: the server died earlier", flush=True)
                continue
            if events_port is None:
                r = Raw(port)
                events_port = ctx.events_port = int(r.cmd("!events_port"))
                r.close()
            start = time.monotonic()
            try:
                s.fn(ctx)
                cells[s.id] = "pass"
                print(f"[{surface}] pass {s.id} ({time.monotonic() - start:.2f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported in the table
                cells[s.id] = "FAIL"
                print(f"[{surface}] FAIL {s.id}: {e}", flush=True)
                if os.environ.get("SURFACES_TRACE"):
                    traceback.print_exc()
    finally:
        stop_server(proc)
    return cells


def table(scenarios: list[Scenario], surfaces: list[str], results: dict[str, dict[str, str]]) -> str:
    lines = ["| scenario | rule | " + " | ".join(surfaces) + " |", "|---|---|" + "---|" * len(surfaces)]
    for s in scenarios:
        lines.append(f"| {s.title} | {s.rule} | " + " | ".join(results[x][s.id] for x in surfaces) + " |")
    notes = [f"- {sid} on {surface}: {why}" for (sid, surface), why in ABSENT.items() if surface in surfaces]
    return "\n".join(lines) + ("\n\nDeclared absences:\n\n" + "\n".join(notes) if notes else "") + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surface", action="append", choices=SURFACES)
    ap.add_argument("--only", help="run only scenarios whose id contains this")
    ap.add_argument("--doc", help="CONFORMANCE.md: fail if its cross-surface section differs from this run's table")
    ap.add_argument("--write-doc", action="store_true", help="with --doc: rewrite that section instead of checking it")
    args = ap.parse_args()
    surfaces = args.surface or list(SURFACES)
    scenarios = [s for s in SCENARIOS if not args.only or args.only in s.id]
    cert, key = tls_files()
    start = time.monotonic()
    results = {surface: run_surface(surface, scenarios, cert, key) for surface in surfaces}
    text = table(scenarios, surfaces, results)
    print(text)
    failed = sum(v == "FAIL" for cells in results.values() for v in cells.values())
    print(f"surfaces: {len(scenarios)} scenarios x {len(surfaces)} surfaces in {time.monotonic() - start:.0f} s, {failed} failed")
    if args.doc and not failed and not args.only and not args.surface:
        return update_doc(Path(args.doc), text, args.write_doc)
    return 1 if failed else 0


DOC_BEGIN = "<!-- surfaces: begin (tests/surfaces/suite.py; `make surfaces-table` rewrites this section, `make surfaces` checks it) -->"
DOC_END = "<!-- surfaces: end -->"


def update_doc(path: Path, text: str, write: bool) -> int:
    """Checks (or rewrites) the cross-surface section at the end of CONFORMANCE.md."""
    section = (
        f"{DOC_BEGIN}\n## Same behaviour on every surface\n\n"
        "`make surfaces` (part of `make test`) runs every scenario of `tests/surfaces/suite.py` against the "
        "scenario server of each surface (core example, C program, Python script, Node script; "
        "`tests/surfaces/README.md`). `absent` cells come only from the suite's declared list.\n\n"
        f"{text}{DOC_END}\n"
    )
    old = path.read_text()
    head = old[: old.index(DOC_BEGIN)] if DOC_BEGIN in old else old.rstrip("\n") + "\n\n"
    new = head + section
    if write:
        path.write_text(new)
        print(f"surfaces: wrote the table into {path}")
        return 0
    if new != old:
        print(f"surfaces: the table in {path} is not this run's; run `make surfaces-table` and commit it")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
