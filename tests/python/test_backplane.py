"""The backplane from Python: its URL (serve(backplane=...), checked by the core, refused by name), two
servers sharing topics through a real redis-server, positions (server.publish_positioned) and recovery
(connection.subscribe_from) with a Redis history."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

import wssession
from conftest import running, until, within


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


# ---- two servers on one real Redis (the redis_server fixture of conftest.py) ----


async def redis_numsub(url: str, channel: str) -> int:
    """How many connections listen on ``channel`` (PUBSUB NUMSUB), asked over RESP."""
    host, port = url.removeprefix("redis://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n${len(channel)}\r\n{channel}\r\n".encode())
        reply = await within(reader.readuntil(b"\r\n:"))
        count = await within(reader.readline())
        assert reply.startswith(b"*2")
        return int(count)
    finally:
        writer.close()


async def listening(url: str, channel: str, count: int) -> None:
    """Waits until ``count`` servers subscribed to ``channel`` on the broker."""
    for _ in range(1000):
        if await redis_numsub(url, channel) == count:
            return
    raise AssertionError(f"{channel} never had {count} listeners")


async def follow_news(ws: wssession.ServerConnection) -> None:
    """Subscribes to "news" (from ``?since=<offset>:<epoch>`` when given: what was missed first), says
    ``subscribed``, then publishes every message it receives to the others (``positioned:TEXT``
    through the history, answering ``published:<position>``); a refused recovery closes with 4000 and
    its reason."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
    try:
        if "since" in query:
            await ws.subscribe_from("news", query["since"][0])
        else:
            ws.subscribe("news")
    except wssession.RecoveryError as e:
        await ws.close(4000, e.reason)
        return
    await ws.send("subscribed")
    async for message in ws:
        if isinstance(message, str) and message.startswith("positioned:"):
            placed = await ws.publish_positioned("news", message.removeprefix("positioned:"))
            await ws.send(f"published:{placed}")
        else:
            ws.publish("news", message)


async def test_two_servers_on_one_redis_deliver_each_others_publishes(redis_server: str) -> None:
    async with (
        running(follow_news, backplane=redis_server) as (a, url_a),
        running(follow_news, backplane=redis_server) as (b, url_b),
        connect(url_a) as ca,
        connect(url_b) as cb,
    ):
        assert await within(ca.recv()) == "subscribed" and await within(cb.recv()) == "subscribed"
        await listening(redis_server, "wss:c:news", 2)
        assert a.publish("news", "from a").delivered == 1  # a's own subscriber at once, b's through Redis
        assert await within(ca.recv()) == "from a"
        assert await within(cb.recv()) == "from a"
        await cb.send("from b's client")  # a connection's publish reaches the other node, not its sender
        assert await within(ca.recv()) == "from b's client"
        b.publish("news", "marker")
        assert await within(cb.recv()) == "marker"  # nothing came back to the sender before it
        assert b.stats()["backplane"]["kind"] == "redis"


async def test_a_reconnecting_client_resumes_from_its_last_position_with_nothing_missing_or_repeated(
    redis_server: str,
) -> None:
    async with running(follow_news, backplane=f"{redis_server}?history=100&positions=1") as (server, url):
        await until(lambda: bool(server.stats()["backplane"]["connected"]))
        async with connect(url) as first:
            assert await within(first.recv()) == "subscribed"
            await listening(redis_server, "wss:c:news", 1)  # the node follows the topic on Redis
            published = [await server.publish_positioned("news", f"m{i}") for i in (1, 2)]
            received = [await within(first.recv()) for _ in published]
            assert received == [f"{p}:m{i}" for i, p in zip((1, 2), published)]
        last = wssession.Position.parse(str(received[-1]).rsplit(":", 1)[0])
        assert last == published[-1] and last.offset == published[0].offset + 1
        missed = [await server.publish_positioned("news", f"m{i}") for i in (3, 4)]
        async with connect(f"{url}/?since={last}") as again:
            # What it missed comes first, then the handler's "subscribed", then the live messages.
            got = [await within(again.recv()) for _ in range(3)]
            assert got == [f"{missed[0]}:m3", f"{missed[1]}:m4", "subscribed"]
            live = await server.publish_positioned("news", "m5")
            assert await within(again.recv()) == f"{live}:m5"
            # A connection's positioned publish: the others get it, its own client does not.
            await again.send("positioned:from the client")
            placed = wssession.Position.parse(str(await within(again.recv())).removeprefix("published:"))
            assert placed.offset == live.offset + 1
            marker = await server.publish_positioned("news", "m7")
            assert await within(again.recv()) == f"{marker}:m7"  # delivered in offset order: no echo before


async def test_recovery_is_refused_with_its_reason_once_the_history_was_trimmed(redis_server: str) -> None:
    async with running(follow_news, backplane=f"{redis_server}?history=10") as (server, url):
        await until(lambda: bool(server.stats()["backplane"]["connected"]))
        first = await server.publish_positioned("news", "0")
        # MAXLEN ~ trims whole stream nodes (100 entries by default): 300 messages leave ~110.
        for i in range(1, 300):
            await server.publish_positioned("news", str(i))
        async with connect(f"{url}/?since={first}") as client:
            with pytest.raises(ConnectionClosedError) as closed:
                await within(client.recv())
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "trimmed")
        assert server.subscriber_count("news") == 0


async def test_without_a_history_positions_are_refused_with_no_history(redis_server: str) -> None:
    async with running(follow_news, backplane=redis_server) as (server, url):
        with pytest.raises(wssession.RecoveryError) as refused:
            await within(server.publish_positioned("news", "x"))
        assert refused.value.reason == "no_history"
        async with connect(f"{url}/?since=1:abc") as client:
            with pytest.raises(ConnectionClosedError) as closed:
                await within(client.recv())
        assert closed.value.rcvd is not None and closed.value.rcvd.reason == "no_history"


def test_a_position_reads_back_from_its_text_and_refuses_anything_else() -> None:
    p = wssession.Position(42, "k3j")
    assert str(p) == "42:k3j" and (p.offset, p.epoch) == (42, "k3j")
    assert wssession.Position.parse("42:k3j") == p and hash(wssession.Position.parse(str(p))) == hash(p)
    for bad in ["", "1", "x:e", "1:", "1:a:b"]:
        with pytest.raises(wssession.InvalidArgumentError):
            wssession.Position.parse(bad)
