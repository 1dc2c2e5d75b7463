"""The backplane URL (serve(backplane=...)): checked by the core, refused by name."""

from __future__ import annotations

import pytest

import wssession


async def noop(ws: wssession.ServerConnection) -> None:
    await ws.wait_closed()


@pytest.mark.parametrize(
    "url, named",
    [("kafka://broker", "kafka"), ("redis://127.0.0.1?colour=red", "colour"), ("nats://127.0.0.1?history=5", "history")],
)
async def test_serve_refuses_an_unsupported_backplane_url_by_name(url: str, named: str) -> None:
    with pytest.raises(wssession.InvalidArgumentError, match=named):
        async with wssession.serve(noop, "127.0.0.1", 0, backplane=url):
            pass


def test_serve_refuses_a_backplane_that_is_not_a_string() -> None:
    with pytest.raises(TypeError):
        wssession.serve(noop, "127.0.0.1", 0, backplane=6379)  # type: ignore[arg-type]


async def test_serve_starts_with_a_backplane_even_while_the_broker_is_unreachable() -> None:
    # Nothing listens on port 1: the backplane retries in the background, the server serves.
    async with wssession.serve(noop, "127.0.0.1", 0, backplane="redis://127.0.0.1:1") as server:
        assert server.sockets
