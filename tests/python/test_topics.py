"""Topics (SPEC §14) from Python: subscribe, publish, subscriber counts, the slow-subscriber policy and
``broadcast``, each observed through the real ``websockets`` client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

import wssession
from conftest import within

#: The payload of the slow-subscriber tests: large, so a client that stops reading fills its socket
#: buffers and then the server's send queue in a few dozen messages.
BIG = os.urandom(256 * 1024)

#: Server settings of those tests: no compression (the payload's size is what fills the buffers), and a
#: write limit over one message, so the subscriber that keeps reading is never over it.
SLOW = dict(compression=None, write_limit=2**20)


class Clients:
    """A server whose handler keeps every connection open, and the pairs (server side, client)."""

    def __init__(
        self, server: wssession.Server, url: str, accepted: asyncio.Queue[wssession.ServerConnection]
    ) -> None:
        self.server = server
        self.url = url
        self._accepted = accepted
        self._stack = contextlib.AsyncExitStack()

    async def connect(self, **kwargs: Any) -> tuple[wssession.ServerConnection, ClientConnection]:
        """A new client and the server's connection for it."""
        client = await self._stack.enter_async_context(connect(self.url, **kwargs))
        conn = await within(self._accepted.get())
        return conn, client

    async def aclose(self) -> None:
        await self._stack.aclose()


@contextlib.asynccontextmanager
async def clients(**kwargs: Any) -> AsyncIterator[Clients]:
    """A server on 127.0.0.1:0 whose handler only waits for its connection to close."""
    accepted: asyncio.Queue[wssession.ServerConnection] = asyncio.Queue()

    async def handler(ws: wssession.ServerConnection) -> None:
        accepted.put_nowait(ws)
        await ws.wait_closed()

    async with wssession.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        c = Clients(server, f"ws://127.0.0.1:{server.port}", accepted)
        try:
            yield c
        finally:
            await c.aclose()


async def next_is(client: ClientConnection, conn: wssession.ServerConnection, want: Any) -> None:
    """The client's next message is ``want``: sent after a marker, so nothing published before is missed."""
    await conn.send("marker")
    assert await within(client.recv()) == want


async def test_server_publish_reaches_every_subscriber_and_no_one_else() -> None:
    async with clients() as c:
        (a, ca), (b, cb), (other, co) = [await c.connect() for _ in range(3)]
        assert a.subscribe("news") is True
        assert b.subscribe("news") is True
        published = c.server.publish("news", "hello")
        assert (published.delivered, published.dropped, published.closed) == (2, 0, 0)
        assert repr(published) == "Published(delivered=2, dropped=0, closed=0)"
        assert published == c.server.publish("news", "again")
        assert await within(ca.recv()) == "hello"
        assert await within(ca.recv()) == "again"
        assert [await within(cb.recv()), await within(cb.recv())] == ["hello", "again"]
        await other.send("marker")
        assert await within(co.recv()) == "marker"


async def test_a_str_is_published_as_text_and_bytes_as_binary_text_overrides() -> None:
    async with clients() as c:
        a, ca = await c.connect()
        a.subscribe("t")
        c.server.publish("t", "é")
        c.server.publish("t", b"\x00\xff")
        c.server.publish("t", bytearray(b"ab"), text=True)
        c.server.publish("t", "cd", text=False)
        assert [await within(ca.recv()) for _ in range(4)] == ["é", b"\x00\xff", "ab", b"cd"]


async def test_connection_publish_reaches_the_other_subscribers_but_not_the_sender() -> None:
    async with clients() as c:
        (a, ca), (b, cb) = [await c.connect() for _ in range(2)]
        a.subscribe("room")
        b.subscribe("room")
        published = a.publish("room", "from a")
        assert (published.delivered, published.dropped, published.closed) == (1, 0, 0)
        assert await within(cb.recv()) == "from a"
        await next_is(ca, a, "marker")


async def test_subscribe_unsubscribe_and_the_subscription_queries() -> None:
    async with clients() as c:
        (a, _), (b, _) = [await c.connect() for _ in range(2)]
        assert a.subscribe("x") is True
        assert a.subscribe("x") is False  # already subscribed
        assert a.subscribe("y") is True
        assert b.subscribe("y") is True
        assert a.is_subscribed("x") and not b.is_subscribed("x")
        assert sorted(a.subscriptions()) == ["x", "y"]
        assert (c.server.subscriber_count("x"), c.server.subscriber_count("y"), c.server.subscriber_count("z")) == (
            1,
            2,
            0,
        )
        assert sorted(c.server.topics()) == ["x", "y"]
        assert a.unsubscribe("x") is True
        assert a.unsubscribe("x") is False  # no longer subscribed
        assert not a.is_subscribed("x")
        assert a.subscriptions() == ["y"]
        assert c.server.subscriber_count("x") == 0
        assert sorted(c.server.topics()) == ["y"]


async def test_a_topic_name_is_1_to_1024_utf8_bytes() -> None:
    async with clients() as c:
        a, _ = await c.connect()
        assert a.subscribe("é" * 512) is True  # 1024 bytes
        with pytest.raises(wssession.InvalidArgumentError):
            a.subscribe("")
        with pytest.raises(wssession.InvalidArgumentError):
            c.server.publish("é" * 513, "x")
        with pytest.raises(TypeError):
            a.subscribe(b"bytes")  # type: ignore[arg-type]


async def test_text_that_is_not_utf8_is_refused() -> None:
    async with clients() as c:
        a, _ = await c.connect()
        with pytest.raises(wssession.InvalidArgumentError):
            c.server.publish("t", b"\xff", text=True)
        with pytest.raises(TypeError):
            c.server.publish("t", 42)  # type: ignore[arg-type]


async def test_an_unsubscribed_connection_no_longer_receives() -> None:
    async with clients() as c:
        a, ca = await c.connect()
        a.subscribe("t")
        a.unsubscribe("t")
        assert c.server.publish("t", "missed").delivered == 0
        await next_is(ca, a, "marker")


async def test_subscriptions_end_when_the_connection_closes() -> None:
    async with clients() as c:
        (a, ca), (b, cb) = [await c.connect() for _ in range(2)]
        a.subscribe("t")
        b.subscribe("t")
        await ca.close()
        await within(a.wait_closed())
        assert c.server.subscriber_count("t") == 1
        assert a.subscriptions() == []
        published = c.server.publish("t", "after")
        assert (published.delivered, published.dropped, published.closed) == (1, 0, 0)
        assert await within(cb.recv()) == "after"


async def test_publish_from_a_closed_connection_raises_connection_closed() -> None:
    async with clients() as c:
        a, ca = await c.connect()
        await ca.close()
        await within(a.wait_closed())
        with pytest.raises(wssession.ConnectionClosed):
            a.publish("t", "late")


async def fast_and_slow(
    c: Clients,
) -> tuple[wssession.ServerConnection, ClientConnection, wssession.ServerConnection]:
    """Two subscribers of "feed": one that reads, and one that stops reading (max_queue=1: its client
    stops reading the socket once one message waits, and nothing calls recv; close_timeout: at the end
    it does not wait for a Close stuck behind what the server queued)."""
    fast, cfast = await c.connect(max_size=None)
    slow, _ = await c.connect(max_size=None, max_queue=1, close_timeout=0.1)
    fast.subscribe("feed")
    slow.subscribe("feed")
    return fast, cfast, slow


async def publish_until_slow(c: Clients, cfast: ClientConnection) -> wssession.Published:
    """Publishes BIG to "feed" until the slow subscriber meets the policy; the reading one gets every
    message in turn. Returns what that publish did."""
    for _ in range(2000):
        published = c.server.publish("feed", BIG)
        assert await within(cfast.recv()) == BIG
        if published.dropped or published.closed:
            return published
    raise AssertionError("the subscriber that stopped reading never met the slow-subscriber policy")


async def test_a_subscriber_that_stops_reading_does_not_hold_up_the_others_and_its_messages_are_dropped() -> None:
    async with clients(slow_subscriber="drop", **SLOW) as c:
        _, cfast, slow = await fast_and_slow(c)
        published = await publish_until_slow(c, cfast)
        assert (published.delivered, published.dropped, published.closed) == (1, 1, 0)
        assert slow.state is wssession.State.OPEN  # dropping keeps the subscriber
        assert c.server.stats()["publish_drops"] == 1


async def test_a_subscriber_that_stops_reading_is_closed_with_the_configured_code() -> None:
    async with clients(slow_subscriber=1013, close_timeout=0.5, **SLOW) as c:
        _, cfast, slow = await fast_and_slow(c)
        published = await publish_until_slow(c, cfast)
        assert (published.delivered, published.dropped, published.closed) == (1, 0, 1)
        reason = await within(slow.wait_closed())
        assert (reason.code, reason.initiator) == (1013, "local")
        assert c.server.subscriber_count("feed") == 1
        published = c.server.publish("feed", "still flowing")
        assert (published.delivered, published.dropped, published.closed) == (1, 0, 0)
        assert await within(cfast.recv()) == "still flowing"
        assert c.server.stats()["slow_subscriber_closes"] == 1


async def test_serve_refuses_an_unknown_slow_subscriber_policy() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        await ws.wait_closed()

    with pytest.raises(TypeError, match="slow_subscriber"):
        wssession.serve(handler, "127.0.0.1", 0, slow_subscriber="block")
    for code in (1000, 70000, -1):
        with pytest.raises(wssession.InvalidArgumentError, match="1008.*1013"):
            async with wssession.serve(handler, "127.0.0.1", 0, slow_subscriber=code):
                pass


async def test_broadcast_sends_to_every_open_connection_and_skips_closing_ones() -> None:
    async with clients() as c:
        (a, ca), (b, cb), (gone, cgone) = [await c.connect() for _ in range(3)]
        await cgone.close()
        await within(gone.wait_closed())
        wssession.broadcast([a, b, gone], "to all")
        wssession.broadcast([a, b], b"\x01")
        assert [await within(ca.recv()), await within(ca.recv())] == ["to all", b"\x01"]
        assert [await within(cb.recv()), await within(cb.recv())] == ["to all", b"\x01"]


async def test_broadcast_refuses_a_message_that_is_not_str_or_bytes() -> None:
    async with clients() as c:
        a, _ = await c.connect()
        with pytest.raises(TypeError):
            wssession.broadcast([a], 42)  # type: ignore[arg-type]


async def test_broadcast_to_a_full_connection_logs_or_raises_and_still_reaches_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with clients(**SLOW) as c:
        fast, cfast = await c.connect(max_size=None)
        slow, _ = await c.connect(max_size=None, max_queue=1, close_timeout=0.1)
        failure: ExceptionGroup[Exception] | None = None
        for _ in range(2000):
            try:
                wssession.broadcast([slow, fast], BIG, raise_exceptions=True)
            except ExceptionGroup as group:
                failure = group
            assert await within(cfast.recv()) == BIG
            if failure is not None:
                break
        assert failure is not None
        assert len(failure.exceptions) == 1
        with caplog.at_level(logging.WARNING, "wssession.server"):
            wssession.broadcast([slow, fast], b"small")
        assert await within(cfast.recv()) == b"small"
        assert [r.getMessage() for r in caplog.records if r.name == "wssession.server"] == [
            "skipped broadcast: failed to write message: the send queue is over its write limit"
        ]


async def test_broadcast_skips_a_connection_sending_a_fragmented_message_with_a_concurrency_error() -> None:
    async with clients() as c:
        (a, ca), (b, cb) = [await c.connect() for _ in range(2)]
        gate = asyncio.Event()

        async def fragments() -> AsyncIterator[str]:
            yield "first "
            yield "second "  # the first goes out once the next is known (its FIN bit depends on it)
            await gate.wait()
            yield "last"

        sending = asyncio.ensure_future(a.send(fragments()))
        pieces = ca.recv_streaming()
        assert await within(anext(pieces)) == "first "  # a's message is under way
        with pytest.raises(ExceptionGroup) as info:
            wssession.broadcast([a, b], "news", raise_exceptions=True)
        assert [type(e) for e in info.value.exceptions] == [wssession.ConcurrencyError]
        assert await within(cb.recv()) == "news"
        gate.set()
        await within(sending)
        assert [p async for p in pieces] == ["second ", "last"]
        await next_is(ca, a, "marker")  # the broadcast never reached a


async def test_a_chat_handler_joins_rooms_on_request_and_publishes_to_the_others() -> None:
    """A chat room as a handler would write it: join on the first message, publish the rest to the room."""

    async def chat(ws: wssession.ServerConnection) -> None:
        room = await ws.recv()
        assert isinstance(room, str)
        ws.subscribe(room)
        await ws.send("joined")
        async for message in ws:
            ws.publish(room, message)

    async with wssession.serve(chat, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.port}"
        async with connect(url) as alice, connect(url) as bob, connect(url) as carol, connect(url) as dave:
            for client, room in ((alice, "r1"), (bob, "r1"), (carol, "r2"), (dave, "r2")):
                await client.send(room)
                assert await within(client.recv()) == "joined"
            await alice.send("hi bob")
            assert await within(bob.recv()) == "hi bob"
            await bob.send("hi alice")
            # Alice's own message never came back: the first thing she gets is Bob's answer.
            assert await within(alice.recv()) == "hi alice"
            await dave.send("hi carol")
            # Nothing of room r1 reached Carol.
            assert await within(carol.recv()) == "hi carol"


@pytest.mark.usefixtures("host_loop")
async def test_every_publish_a_handler_makes_reaches_every_subscriber_in_order_the_last_without_a_later_event() -> (
    None
):
    """Many messages at once: the tasks one wake-up resumes publish them all before their batch is flushed."""
    subscribed: asyncio.Queue[None] = asyncio.Queue()

    async def handler(ws: wssession.ServerConnection) -> None:
        if ws.request.path == "/sub":
            ws.subscribe("feed")
            subscribed.put_nowait(None)
            await ws.wait_closed()
            return
        async for message in ws:
            server.publish("feed", message)

    sent = [f"m{i}" for i in range(200)]
    async with wssession.serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.port}"
        async with connect(url + "/sub") as s1, connect(url + "/sub") as s2, connect(url + "/sub") as s3:
            for _ in range(3):
                await within(subscribed.get())
            async with connect(url + "/pub") as publisher:
                for m in sent:
                    await publisher.send(m)
                for s in (s1, s2, s3):
                    assert [await within(s.recv()) for _ in sent] == sent


@pytest.mark.usefixtures("host_loop")
async def test_a_handlers_publishes_and_its_own_sends_reach_a_subscriber_in_the_order_they_were_made() -> None:
    async def handler(ws: wssession.ServerConnection) -> None:
        ws.subscribe("t")
        async for _ in ws:
            server.publish("t", "first")
            await ws.send("second")
            server.publish("t", "third")

    async with wssession.serve(handler, "127.0.0.1", 0) as server:
        async with connect(f"ws://127.0.0.1:{server.port}") as client:
            await client.send("go")
            assert [await within(client.recv()) for _ in range(3)] == ["first", "second", "third"]
