"""Issue 16: the engine's log records reach the ``logging`` logger passed as ``logger=`` (default
``wssession.server``) at its level, and ``Server.stats()`` / the metrics path report exact figures."""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any, cast

import pytest
import websockets
from conftest import Box, echo, running, until, within
from prometheus_client.openmetrics.parser import text_string_to_metric_families

import wssession

pytestmark = pytest.mark.asyncio

#: The registry's OpenMetrics parser (the package ships no type hints).
parse_openmetrics: Callable[[str], Iterable[Any]] = text_string_to_metric_families


def fields(record: logging.LogRecord) -> dict[str, str]:
    """The engine's fields of a record (``extra={"wssession": {...}}``)."""
    return cast(dict[str, str], record.__dict__["wssession"])


def core_records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.msg.startswith(message) and hasattr(r, "wssession")]


async def wait_record(caplog: pytest.LogCaptureFixture, message: str) -> logging.LogRecord:
    await until(lambda: bool(core_records(caplog, message)))
    return core_records(caplog, message)[0]


def raw_upgrade(port: int, path: str = "/") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock


async def test_a_refused_handshake_is_an_info_record_with_status_and_path(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wssession.server")

    async def refuse(conn: Any, request: Any) -> wssession.Response:
        response: wssession.Response = conn.respond(403, "not you")
        return response

    async with running(echo, process_request=refuse) as (server, url):
        with pytest.raises(websockets.InvalidStatus):
            await within(websockets.connect(url + "/private"))
        record = await wait_record(caplog, "handshake refused")
    assert record.name == "wssession.server"
    assert record.levelno == logging.INFO
    assert fields(record)["status"] == "403"
    assert fields(record)["path"] == "/private"
    assert fields(record)["addr"] == f"127.0.0.1:{server.port}"


async def test_a_protocol_violation_is_a_warning_record_with_its_kind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="wssession.server")
    async with running(echo) as (server, _):
        sock = raw_upgrade(server.port)
        sock.recv(4096)
        sock.sendall(bytes([0x81, 0x02]) + b"hi")  # unmasked
        record = await wait_record(caplog, "protocol violation")
        sock.close()
    assert record.levelno == logging.WARNING
    assert (fields(record)["kind"], fields(record)["code"]) == ("unmasked", "1002")
    assert int(fields(record)["id"]) > 0


async def test_a_failing_handler_is_one_error_record_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="wssession.server")

    async def failing(ws: wssession.ServerConnection) -> None:
        raise RuntimeError("database unavailable")

    async with running(failing) as (_, url):
        async with websockets.connect(url) as client:
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await within(client.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    # websockets' record (with the traceback); the engine's "session handler failed" is not written twice.
    assert [r.getMessage() for r in errors] == ["connection handler failed"]
    assert errors[0].exc_info is not None and "database unavailable" in str(errors[0].exc_info[1])


async def test_each_lifecycle_event_is_one_record_in_websockets_words(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wssession.server")

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "wssession.server"]

    box = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        box.put(ws)
        await echo(ws)

    async with running(handler) as (server, url):
        await exchange(url)
        conn = await box.get()
        await until(lambda: "connection closed" in messages())
    assert messages() == [
        f"server listening on 127.0.0.1:{server.port}",
        "connection open",
        "connection closed",
        "server closing",
        "server closed",
    ]
    closed = next(r for r in caplog.records if r.getMessage() == "connection closed")
    # The engine's event feeds it: what websockets' record lacks is in extra["wssession"].
    assert (fields(closed)["code"], fields(closed)["initiator"]) == ("1000", "remote")
    assert int(fields(closed)["duration_ms"]) >= 0 and int(fields(closed)["id"]) > 0
    assert closed.levelno == logging.INFO
    # As websockets' connection records, it carries the connection as `websocket`.
    assert getattr(closed, "websocket") is conn
    assert int(fields(closed)["id"]) == conn.session_id


class CountingLogger(logging.Logger):
    """A logger that counts every call into it."""

    def __init__(self, level: int) -> None:
        super().__init__("counting", level)
        self.calls = 0

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        super().log(level, msg, *args, **kwargs)


async def exchange(url: str) -> None:
    async with websockets.connect(url) as client:
        await client.send("hello")
        assert await within(client.recv()) == "hello"


async def test_records_below_the_loggers_level_never_call_into_python() -> None:
    quiet, chatty = CountingLogger(logging.WARNING), CountingLogger(logging.INFO)
    async with running(echo, logger=quiet) as (server, url):
        await exchange(url)
        await until(lambda: server.stats()["connections_open"] == 0)
    async with running(echo, logger=chatty) as (server, url):
        await exchange(url)
        await until(lambda: chatty.calls >= 1)  # the engine's "connection closed"
    assert quiet.calls == 0


async def test_the_metrics_path_reports_a_scripted_run_exactly() -> None:
    clients, messages = 3, 4

    async def only_root(conn: Any, request: Any) -> wssession.Response | None:
        return None if request.path == "/" else conn.respond(404, "no such endpoint")

    async with running(echo, max_size=1024, metrics_path="/metrics", process_request=only_root) as (server, url):
        for _ in range(clients):
            async with websockets.connect(url) as client:
                for _ in range(messages):
                    await client.send("twelve bytes")
                    assert await within(client.recv()) == "twelve bytes"
        for _ in range(2):
            with pytest.raises(websockets.InvalidStatus):
                await within(websockets.connect(url + "/elsewhere"))
        async with websockets.connect(url, max_size=None) as client:
            await client.send(b"x" * 2000)
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await within(client.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await until(lambda: server.stats()["connections_open"] == 0)

        def scrape() -> tuple[str, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as r:
                return r.headers["Content-Type"], r.read().decode()

        content_type, text = await asyncio.to_thread(scrape)
        stats = server.stats()
    assert content_type.startswith("application/openmetrics-text")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_openmetrics(text)
        for s in family.samples
    }
    n = clients * messages
    assert samples[("wssession_connections_total", ())] == clients + 1
    assert samples[("wssession_connections_open", ())] == 0
    assert samples[("wssession_messages_received_total", ())] == n
    assert samples[("wssession_received_bytes_total", ())] == n * 12
    assert samples[("wssession_messages_sent_total", ())] == n
    assert samples[("wssession_handshakes_refused_total", (("status", "404"),))] == 2
    assert samples[("wssession_closes_total", (("code", "1000"), ("initiator", "remote")))] == clients
    assert samples[("wssession_closes_total", (("code", "1009"), ("initiator", "local")))] == 1
    assert samples[("wssession_violations_total", (("kind", "too_big"),))] == 1
    assert stats["handshakes_refused"] == {404: 2}
    assert stats["closes"] == {(1000, "remote"): clients, (1009, "local"): 1}
    assert (stats["messages_in"], stats["bytes_out"]) == (n, n * 12)
