"""The benchmark echo server (bench/servers/python_echo.py) honours the echo-server contract."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conftest import within

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "servers" / "python_echo.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--deflate"],
        ["--callback"],
        ["--callback", "--deflate"],
        ["--host-loop"],
        ["--host-loop", "--deflate"],
        ["--callback", "--host-loop"],
    ],
)
async def test_echo_server_echoes_text_and_binary_and_stops_on_sigterm(flags: list[str]) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--port", str(port), *flags, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await within(proc.stdout.readline(), 20)
        assert str(port).encode() in line
        async with connect(f"ws://127.0.0.1:{port}", max_size=None) as client:
            assert client.response is not None
            extensions = client.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in extensions) == ("--deflate" in flags)
            for message in ("text", b"\x00binary", "x" * 100_000, os.urandom(3_000_000)):
                await client.send(message)
                assert await within(client.recv()) == message
            for i in range(2000):
                await client.send(str(i))
            assert [await within(client.recv()) for _ in range(2000)] == [str(i) for i in range(2000)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await within(proc.wait(), 20) == 0
