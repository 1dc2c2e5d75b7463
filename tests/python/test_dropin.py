"""websockets 17's documented asyncio server surface, written from its docs and run with its client
(issue 13): server shutdown, send(text=), ping latency, keepalive options, process_response,
server_header, logger, the connection's attributes and the modules users import."""

from __future__ import annotations

import asyncio
import base64
import http
import logging
import pathlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
import websockets.exceptions
from websockets.asyncio.client import connect, unix_connect
from websockets.typing import Subprotocol

import wssession
from conftest import Box, echo, running, until, within
from test_protocol import frame, raw_client, read_frame
from wssession.asyncio.server import basic_auth
from wssession.datastructures import Headers
from wssession.frames import CloseCode
from wssession.http11 import Request, Response


async def wait_until_closed(ws: wssession.ServerConnection) -> None:
    await ws.wait_closed()


# ---- Server: serve_forever, close, async with ----


async def test_cancelling_serve_forever_closes_the_server_and_its_connections() -> None:
    server = await wssession.serve(wait_until_closed, "127.0.0.1", 0)
    task = asyncio.ensure_future(server.serve_forever())
    async with connect(f"ws://127.0.0.1:{server.port}") as client:
        await until(lambda: bool(server.connections))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await within(task)
        assert not server.is_serving()
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            await within(client.recv())
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    with pytest.raises(OSError):
        await within(connect(f"ws://127.0.0.1:{server.port}"))


async def test_server_close_sends_1001_going_away_with_an_empty_reason() -> None:
    async with running(wait_until_closed) as (server, url), connect(url) as client:
        await until(lambda: bool(server.connections))
        server.close()
        with pytest.raises(websockets.ConnectionClosedOK) as info:
            await within(client.recv())
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (CloseCode.GOING_AWAY, "")


async def test_server_close_uses_the_given_code_and_reason() -> None:
    async with running(wait_until_closed) as (server, url), connect(url) as client:
        await until(lambda: bool(server.connections))
        server.close(code=CloseCode.SERVICE_RESTART, reason="restarting")
        await within(server.wait_closed())
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await within(client.recv())
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1012, "restarting")


async def test_server_close_without_closing_connections_waits_for_them() -> None:
    async with running(echo) as (server, url):
        client = await within(connect(url))
        await until(lambda: bool(server.connections))
        server.close(close_connections=False)
        closing = asyncio.ensure_future(server.wait_closed())
        await client.send("still open")  # the connection is kept while the server closes
        assert await within(client.recv()) == "still open"
        assert not closing.done()
        await client.close()
        await within(closing)


async def test_leaving_async_with_serve_waits_until_handlers_returned() -> None:
    cleaned_up: list[str] = []

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.recv()
        except wssession.ConnectionClosed:
            for _ in range(5):  # the cleanup takes several loop iterations
                await asyncio.sleep(0)
            cleaned_up.append("done")

    async with wssession.serve(handler, "127.0.0.1", 0) as server:
        client = await within(connect(f"ws://127.0.0.1:{server.port}"))
        await until(lambda: bool(server.connections))
    assert cleaned_up == ["done"]
    await client.close()


async def test_connections_lists_only_open_connections() -> None:
    release = asyncio.Event()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.recv()
        await ws.close()
        await release.wait()  # the handler outlives its connection

    async with running(handler) as (server, url), connect(url) as client:
        await until(lambda: len(server.connections) == 1)
        await client.send("bye")
        await until(lambda: not server.connections)
        release.set()


# ---- send(message, text=None) ----


async def test_send_text_true_sends_bytes_as_text_and_false_sends_str_as_binary() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.send(b"caf\xc3\xa9", text=True)
        await ws.send("bin", text=False)
        await ws.send(["a", "b"], text=False)
        await ws.send([b"c", b"d"], text=True)
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "café"
        assert await within(client.recv()) == b"bin"
        assert await within(client.recv()) == b"ab"
        assert await within(client.recv()) == "cd"


async def test_send_of_a_dict_raises_type_error_and_keeps_the_connection() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.send({"a": 1})
        except TypeError as exc:
            box.put(str(exc))
        await ws.send("still open")
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        assert "dict" in await box.get()
        assert await within(client.recv()) == "still open"


async def mixed_fragments() -> AsyncIterator[str | bytes]:
    yield "text"
    yield b"bytes"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["iterable", "async-iterable"])
async def test_send_of_mixed_fragments_raises_type_error_and_closes_with_1011(asynchronous: bool) -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        try:
            await ws.send(mixed_fragments() if asynchronous else ["text", b"bytes"])
        except TypeError as exc:
            box.put(exc)
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        assert isinstance(await box.get(), TypeError)
        with pytest.raises(websockets.ConnectionClosedError) as info:
            await within(client.recv())
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "error in fragmented message")


async def test_send_of_an_async_iterable_with_text_true_sends_one_text_message() -> None:
    async def fragments() -> AsyncIterator[bytes]:
        yield b"he"
        yield b"llo"

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.send(fragments(), text=True)
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "hello"


async def test_a_send_during_a_fragmented_message_waits_until_the_message_is_complete() -> None:
    release = asyncio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "frag"
        await release.wait()
        yield "ment"

    async def handler(ws: wssession.ServerConnection) -> None:
        fragmented = asyncio.ensure_future(ws.send(fragments()))
        await asyncio.sleep(0)  # let the fragmented send start
        other = asyncio.ensure_future(ws.send("other"))
        await asyncio.sleep(0)
        release.set()
        await within(asyncio.gather(fragmented, other))
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        assert await within(client.recv()) == "fragment"
        assert await within(client.recv()) == "other"


# ---- recv_streaming: one item per frame ----


async def streamed_by(serve: Any) -> tuple[list[list[str | bytes]], str | bytes]:
    """What recv_streaming yields (and recv returns) on a server made by ``serve`` (websockets' or
    ours) for fragmented messages the websockets client sends with send(iterable)."""
    box = Box()

    async def handler(ws: Any) -> None:
        pieces = [[p async for p in ws.recv_streaming(decode=d)] for d in (None, None, None, False)]
        box.put((pieces, await ws.recv()))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            await client.send(["Hel", "lo ", "w\u00f6rld"])
            await client.send([b"a", b"", b"bc"])
            await client.send([b"\xc3", b"\xa9t\xc3", b"\xa9"], text=True)  # characters split across frames
            await client.send(["x", "y"])
            await client.send(["who", "le"])
            result: tuple[list[list[str | bytes]], str | bytes] = await box.get()
            return result


async def test_recv_streaming_yields_one_item_per_frame_as_websockets_does() -> None:
    ours = await streamed_by(wssession.serve)
    # websockets' send(iterable) ends a message with an empty final frame: one more (empty) item.
    assert ours == (
        [["Hel", "lo ", "w\u00f6rld", ""], [b"a", b"", b"bc", b""], ["", "\u00e9t", "\u00e9", ""], [b"x", b"y", b""]],
        "whole",
    )
    assert ours == await streamed_by(websockets.serve)


async def test_recv_joins_a_message_of_many_fragments_and_recv_streaming_keeps_every_byte() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        whole = await ws.recv()
        pieces = [p async for p in ws.recv_streaming()]
        box.put((whole, pieces))
        await ws.wait_closed()

    fragments = [f"{i}," for i in range(1000)]
    async with running(handler) as (_, url), connect(url) as client:
        await client.send(fragments)
        await client.send([b""] * 500 + [b"end"])
        whole, pieces = await box.get()
        assert whole == "".join(fragments)
        assert b"".join(pieces) == b"end" and all(isinstance(p, bytes) for p in pieces)


async def test_recv_while_recv_streaming_is_mid_message_raises_concurrency_error() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        stream = ws.recv_streaming()
        first = await anext(stream)
        with pytest.raises(wssession.exceptions.ConcurrencyError):
            await ws.recv()
        box.put([first] + [p async for p in stream])
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        await client.send(["one", "two"])
        assert await box.get() == ["one", "two", ""]  # websockets' send(iterable) ends with an empty frame


# ---- serve() options not shown elsewhere ----


async def test_max_connections_answers_503_beyond_the_limit() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.wait_closed()

    async with running(handler, max_connections=1) as (_, url), connect(url):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with connect(url):
                pass
        assert info.value.response.status_code == 503


async def test_open_timeout_answers_a_request_head_that_does_not_arrive_in_time_with_408() -> None:
    async with running(echo, open_timeout=0.05) as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        answer = await within(reader.read())
        assert answer.startswith(b"HTTP/1.1 408 ")
        writer.close()


# ---- recv(decode=...) ----


async def test_recv_decode_forces_str_or_bytes() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        as_text = await ws.recv(decode=True)
        as_bytes = await ws.recv(decode=False)
        await ws.send(repr((as_text, as_bytes)))
        await ws.wait_closed()

    async with running(handler) as (_, url), connect(url) as client:
        await client.send(b"binary")
        await client.send("text")
        assert await within(client.recv()) == repr(("binary", b"text"))


# ---- ping, latency, keepalive ----


async def test_ping_resolves_with_the_latency_that_connection_latency_then_reports() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        assert ws.latency == 0.0
        pong_received = await ws.ping()
        latency = await pong_received
        box.put((latency, ws.latency))
        await ws.wait_closed()

    async with running(handler, ping_interval=None) as (_, url), connect(url):
        latency, reported = await box.get()
        assert isinstance(latency, float) and latency > 0
        assert reported == pytest.approx(latency, abs=1e-5)


async def test_ping_timeout_none_keeps_pinging_a_silent_client_without_closing() -> None:
    async with running(echo, ping_interval=0.01, ping_timeout=None) as (server, _):
        reader, writer = await raw_client(server.port)
        opcodes = [(await read_frame(reader))[0] for _ in range(5)]  # never answered
        assert opcodes == [9] * 5
        writer.write(frame(1, b"still open"))
        while (got := await read_frame(reader))[0] == 9:
            pass
        assert got == (1, b"still open")
        writer.close()


async def test_a_ping_timeout_closes_a_silent_client_with_1011() -> None:
    async with running(echo, ping_interval=0.01, ping_timeout=0.05) as (server, _):
        reader, writer = await raw_client(server.port)
        while (got := await read_frame(reader))[0] == 9:
            pass
        assert got[0] == 8 and int.from_bytes(got[1][:2], "big") == 1011
        writer.close()


@pytest.mark.parametrize(("interval", "engine"), [(None, (None, 0)), (0.5, (0.5, 500))])
async def test_ping_interval_none_turns_the_engine_pinger_off(interval: float | None, engine: object) -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put((ws.ping_interval, ws.ping_interval_millis))
        await ws.wait_closed()

    async with running(handler, ping_interval=interval) as (_, url), connect(url):
        assert await box.get() == engine  # 0 ms: the engine starts no pinger


# ---- process_response, server_header ----


async def test_server_header_defaults_to_wssession_and_can_be_set_or_removed() -> None:
    async with running(echo) as (_, url), connect(url) as client:
        assert client.response is not None
        assert client.response.headers["Server"] == wssession.http11.SERVER
    async with running(echo, server_header="my-server/1.0") as (_, url), connect(url) as client:
        assert client.response is not None
        assert client.response.headers["Server"] == "my-server/1.0"
    async with running(echo, server_header=None) as (_, url), connect(url) as client:
        assert client.response is not None
        assert "Server" not in client.response.headers


async def test_process_response_may_add_headers_to_the_101() -> None:
    box = Box()

    def process_response(conn: wssession.HandshakeConnection, request: Request, response: Response) -> None:
        box.put((response.status_code, response.headers.get("Server"), request.path))
        response.headers["X-Trace"] = "abc"

    async with running(echo, process_response=process_response) as (_, url), connect(url + "/p") as client:
        assert await box.get() == (101, wssession.http11.SERVER, "/p")
        assert client.response is not None and client.response.headers["X-Trace"] == "abc"
        await client.send("x")
        assert await within(client.recv()) == "x"


async def test_async_process_response_may_replace_the_response() -> None:
    async def process_response(
        conn: wssession.HandshakeConnection, request: Request, response: Response
    ) -> Response | None:
        if request.path == "/closed":
            return conn.respond(http.HTTPStatus.FORBIDDEN, "closed\n")
        return None

    async with running(echo, process_response=process_response) as (_, url):
        with pytest.raises(websockets.InvalidStatus) as info:
            await within(connect(url + "/closed"))
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"closed\n"
        async with connect(url + "/open") as client:
            await client.send("x")
            assert await within(client.recv()) == "x"


async def test_a_failing_process_response_answers_500_and_logs() -> None:
    def process_response(conn: wssession.HandshakeConnection, request: Request, response: Response) -> None:
        raise RuntimeError("boom")

    async with running(echo, process_response=process_response) as (_, url):
        with pytest.raises(websockets.InvalidStatus) as info:
            await within(connect(url))
        assert info.value.response.status_code == 500


# ---- logger ----


class Records(logging.Handler):
    """Keeps the records it receives."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


async def test_logger_receives_server_and_connection_records() -> None:
    records = Records()
    log = logging.getLogger("test.dropin.server")
    log.setLevel(logging.INFO)
    log.addHandler(records)
    log.propagate = False
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(ws)
        await ws.recv()

    try:
        async with running(handler, logger=log) as (server, url), connect(url) as client:
            conn = await box.get()
            assert conn.logger.logger is log
            await client.send("bye")
            await until(lambda: "connection closed" in records.messages())
        messages = records.messages()
        assert f"server listening on 127.0.0.1:{server.port}" in messages
        assert "connection open" in messages and "server closing" in messages and "server closed" in messages
        opened = next(r for r in records.records if r.getMessage() == "connection open")
        assert getattr(opened, "websocket") is conn
    finally:
        log.removeHandler(records)


async def test_create_connection_and_extensions_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="create_connection"):
        wssession.serve(echo, "127.0.0.1", 0, create_connection=object)
    with pytest.raises(TypeError, match="extensions"):
        wssession.serve(echo, "127.0.0.1", 0, extensions=[])
    with pytest.raises(TypeError, match="no_such_option"):
        wssession.serve(echo, "127.0.0.1", 0, no_such_option=1)
    with pytest.raises(TypeError, match="logger"):
        wssession.serve(echo, "127.0.0.1", 0, logger="wssession")  # type: ignore[arg-type]


# ---- the connection's attributes ----


async def test_connection_attributes_match_websockets() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(
            dict(
                id=ws.id,
                logger=ws.logger,
                request=(ws.request.path, ws.request.headers["X-Hello"]),
                response=(ws.response.status_code, ws.response.headers["Sec-WebSocket-Accept"]),
                remote=ws.remote_address,
                local=ws.local_address,
                sub=ws.subprotocol,
                state=ws.state,
                close=(ws.close_code, ws.close_reason),
            )
        )
        await ws.recv()

    async with running(handler, subprotocols=["chat"]) as (server, url):
        async with connect(url + "/room", subprotocols=[Subprotocol("chat")], additional_headers={"X-Hello": "hi"}) as client:
            got = await box.get()
            assert isinstance(got["id"], uuid.UUID)
            assert isinstance(got["logger"], logging.LoggerAdapter)
            assert got["request"] == ("/room", "hi")
            assert client.response is not None
            assert got["response"] == (101, client.response.headers["Sec-WebSocket-Accept"])
            assert got["remote"] == client.local_address[:2]
            assert got["local"] == ("127.0.0.1", server.port)
            assert got["sub"] == "chat"
            assert got["state"] is wssession.State.OPEN
            assert got["close"] == (None, None)


async def test_close_code_and_reason_after_the_client_closed() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.wait_closed()
        box.put((ws.state, ws.close_code, ws.close_reason))

    async with running(handler) as (_, url), connect(url) as client:
        await client.close(4000, "done")
        assert await box.get() == (wssession.State.CLOSED, 4000, "done")


async def test_response_of_a_connection_includes_process_response_headers() -> None:
    box = Box()

    def process_response(conn: wssession.HandshakeConnection, request: Request, response: Response) -> None:
        response.headers["X-Extra"] = "1"

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(ws.response.headers.get_all("X-Extra"))
        await ws.wait_closed()

    async with running(handler, process_response=process_response) as (_, url), connect(url):
        assert await box.get() == ["1"]


# ---- modules users import ----


def test_modules_mirror_websockets() -> None:
    assert int(CloseCode.GOING_AWAY) == 1001 and int(CloseCode.INTERNAL_ERROR) == 1011
    assert {c.name for c in CloseCode} >= {c.name for c in websockets.frames.CloseCode}
    assert Request is wssession.Request and Response is wssession.Response
    assert Headers is wssession.Headers
    from wssession.protocol import OPEN, State

    assert OPEN is State.OPEN is wssession.State.OPEN
    assert [s.name for s in State] == [s.name for s in websockets.protocol.State]
    h = Headers([("A", "1")])
    h["a"] = "2"
    assert h.get_all("A") == ["1", "2"]


def test_exception_hierarchy_matches_websockets() -> None:
    for name in websockets.exceptions.__all__:
        theirs = getattr(websockets.exceptions, name)
        if not isinstance(theirs, type):
            continue
        ours = getattr(wssession.exceptions, name)
        their_bases = [c.__name__ for c in theirs.__mro__ if c.__module__.startswith("websockets")]
        our_bases = [c.__name__ for c in ours.__mro__ if c.__module__.startswith("wssession")]
        assert our_bases == their_bases, name
    assert not issubclass(wssession.exceptions.PayloadTooBig, wssession.exceptions.ProtocolError)


# ---- basic_auth ----


async def test_basic_auth_accepts_good_credentials_and_sets_username() -> None:
    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(getattr(ws, "username"))
        await ws.wait_closed()

    auth = basic_auth(realm="dev", credentials=("hello", "iloveyou"))
    async with running(handler, process_request=auth) as (server, _):
        async with connect(f"ws://hello:iloveyou@127.0.0.1:{server.port}"):
            assert await box.get() == "hello"
        for uri in (f"ws://hello:wrong@127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}"):
            with pytest.raises(websockets.InvalidStatus) as info:
                await within(connect(uri))
            assert info.value.response.status_code == 401
            assert info.value.response.headers["WWW-Authenticate"] == 'Basic realm="dev", charset="UTF-8"'


async def test_basic_auth_with_an_async_check_credentials() -> None:
    async def check(username: str, password: str) -> bool:
        await asyncio.sleep(0)
        return password == username[::-1]

    async with running(echo, process_request=basic_auth(check_credentials=check)) as (server, _):
        token = base64.b64encode(b"abc:cba").decode()
        async with connect(f"ws://127.0.0.1:{server.port}", additional_headers={"Authorization": f"Basic {token}"}):
            pass
        with pytest.raises(websockets.InvalidStatus):
            await within(connect(f"ws://abc:abc@127.0.0.1:{server.port}"))
    with pytest.raises(ValueError):
        basic_auth()
    with pytest.raises(TypeError):
        basic_auth(credentials=[("a", 1)])  # type: ignore[list-item]


# ---- route (werkzeug) ----


async def test_route_dispatches_by_path_with_captured_values_and_answers_404() -> None:
    from werkzeug.routing import Map, Rule

    from wssession.asyncio.router import route

    async def channel_handler(websocket: wssession.ServerConnection, channel_id: uuid.UUID) -> None:
        await websocket.send(f"channel {channel_id}")
        await websocket.wait_closed()

    async def lobby(websocket: wssession.ServerConnection) -> None:
        await websocket.send("lobby")
        await websocket.wait_closed()

    url_map = Map(
        [
            Rule("/channel/<uuid:channel_id>", endpoint=channel_handler),
            Rule("/", endpoint=lobby),
            Rule("/old", redirect_to="/"),
        ]
    )
    channel = uuid.uuid4()
    async with route(url_map, "127.0.0.1", 0) as server:
        base = f"ws://127.0.0.1:{server.port}"
        async with connect(f"{base}/channel/{channel}") as client:
            assert await within(client.recv()) == f"channel {channel}"
        async with connect(f"{base}/") as client:
            assert await within(client.recv()) == "lobby"
        with pytest.raises(websockets.InvalidStatus) as info:
            await within(connect(f"{base}/nowhere"))
        assert info.value.response.status_code == 404
        async with connect(f"{base}/old") as client:  # the client follows the 302 to "/"
            assert await within(client.recv()) == "lobby"


async def test_unix_route_dispatches_on_a_unix_socket(tmp_path: pathlib.Path) -> None:
    from werkzeug.routing import Map, Rule

    from wssession.asyncio.router import unix_route

    async def hello(websocket: wssession.ServerConnection, name: str) -> None:
        await websocket.send(f"hello {name}")
        await websocket.wait_closed()

    path = str(tmp_path / "route.sock")
    async with unix_route(Map([Rule("/hello/<name>", endpoint=hello)]), path):
        async with unix_connect(path, "ws://localhost/hello/unix") as client:
            assert await within(client.recv()) == "hello unix"
