"""Shared helpers: start a wssession server on an ephemeral port and talk to it with `websockets`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

import wssession

#: Upper bound on any single wait in the tests: a bug fails instead of hanging.
WAIT = 5.0


@contextlib.asynccontextmanager
async def running(
    handler: Callable[[wssession.ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[tuple[wssession.Server, str]]:
    """A server on 127.0.0.1:0 with ``handler``; yields it and its ``ws://`` URL."""
    async with wssession.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, f"ws://127.0.0.1:{server.port}"


async def within(aw: Awaitable[Any], timeout: float = WAIT) -> Any:
    """Awaits ``aw`` with a bound."""
    return await asyncio.wait_for(aw, timeout)


class Box:
    """Hands a value from the server handler to the test."""

    def __init__(self) -> None:
        self._fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def put(self, value: Any) -> None:
        if not self._fut.done():
            self._fut.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self._fut.done():
            self._fut.set_exception(exc)

    async def get(self) -> Any:
        return await within(asyncio.shield(self._fut))


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Polls ``condition`` until it holds; fails after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def echo(ws: wssession.ServerConnection) -> None:
    """The handler most tests serve: every message comes back unchanged."""
    async for message in ws:
        await ws.send(message)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost/127.0.0.1: (certfile, keyfile)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate here")
    return str(cert), str(key)


def client_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    """A client TLS context trusting ``certificate``."""
    return ssl.create_default_context(cafile=certificate[0])


@pytest.fixture
def redis_server() -> Iterator[str]:
    """A real redis-server (``make brokers`` installs it) on a free loopback port, without
    persistence, stopped by pid afterwards; yields its ``redis://`` URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)  # redis-server offers no readiness signal but its port
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()


def _serve_with_host_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes every ``serve``/``serve_callbacks`` on a plain TCP listener default to ``host_loop=True``."""
    original = wssession.server.serve

    def serve(handler: Any, *args: Any, **kwargs: Any) -> wssession.Server:
        if kwargs.get("ssl") is None and not kwargs.get("unix"):
            kwargs.setdefault("host_loop", True)
        return original(handler, *args, **kwargs)

    monkeypatch.setattr(wssession.server, "serve", serve)
    monkeypatch.setattr(wssession, "serve", serve)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--host-loop", action="store_true", help="serve every test's TCP server with host_loop=True (the loop reads)"
    )


@pytest.fixture(autouse=True)
def _host_loop_everywhere(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``pytest --host-loop``: the whole suite runs with the asyncio loop reading the sockets."""
    if request.config.getoption("--host-loop"):
        _serve_with_host_loop(monkeypatch)


@pytest.fixture(params=[False, True], ids=["engine-reads", "host-loop"])
def host_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Runs a test (``@pytest.mark.usefixtures("host_loop")``) in both read modes."""
    if request.param:
        _serve_with_host_loop(monkeypatch)
    return bool(request.param)
