"""Python scenario server for the cross-surface suite (tests/surfaces/README.md: the control messages).

    .venv/bin/python tests/surfaces/servers/scenario_server.py --port PORT [--tls CERT KEY]

The asyncio handler (`serve`) serves every path; the push-style handler (`serve_callbacks`, which has
`on_drain`) runs as a second server on an ephemeral port, answered by `!events_port`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import uuid
from collections.abc import Sequence
from typing import Any

import wssession
from wssession.exceptions import ConnectionClosed, DeserializeError, NoConverterError

NOTES: dict[str, str] = {}
EVENTS_PORT = 0


class Custom:
    """The suite's custom converter: ``custom:`` + JSON in a Binary frame."""

    def dumps(self, obj: Any) -> bytes:
        return b"custom:" + json.dumps(obj, separators=(",", ":")).encode()

    def loads(self, data: str | bytes) -> Any:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return json.loads(raw.removeprefix(b"custom:"))


async def record_close(ws: wssession.ServerConnection, tag: str) -> None:
    r = await ws.close_reason_future
    NOTES[f"close:{tag}"] = f"{r.code} {r.initiator} {r.reason}"


async def outcome(send: Any) -> str:
    """What a send on a closed session gives: its failure may come when called or when awaited."""
    try:
        await send()
        return "sent"
    except ConnectionClosed:
        return "closed"
    except Exception:  # noqa: BLE001 - any other failure is reported as such
        return "error"


async def refused(action: Any) -> str:
    try:
        await action()
        return "accepted"
    except (ValueError, TypeError):
        return "invalid"


async def command(ws: wssession.ServerConnection, state: dict[str, Any], line: str) -> bool:
    """Runs one control message; False ends the handler normally."""
    name, *rest = line.split(" ")
    tag = state["tag"]
    if name == "tag":
        state["tag"] = rest[0]
        state["tasks"].add(asyncio.ensure_future(record_close(ws, rest[0])))
        await ws.send("ok")
    elif name == "note":
        await ws.send(NOTES.get(rest[0], "-"))
    elif name == "masking":
        ws.masking = rest[0] == "1"
        await ws.send("ok")
    elif name in ("max_frame_size", "ping_interval", "timeout", "close_timeout"):
        attr = {"max_frame_size": "max_frame_size", "ping_interval": "ping_interval_millis",
                "timeout": "timeout_millis", "close_timeout": "close_timeout_millis"}[name]
        setattr(ws, attr, int(rest[0]))
        await ws.send("ok")
    elif name == "latency":
        await ws.send(f"{ws.latency * 1000:.3f}" if ws.latency else "none")
    elif name == "fragments":
        for i, word in enumerate(rest):
            await ws.outgoing.send(wssession.Frame(1, word, fin=i + 1 == len(rest)))
    elif name == "close":
        await ws.close(int(rest[0]), " ".join(rest[1:]))
    elif name == "terminate":
        ws.terminate()
    elif name == "return":
        return False
    elif name == "raise":
        raise RuntimeError("scenario handler failed on purpose")
    elif name == "flush":
        NOTES[f"flush:{tag}"] = "sending"
        await ws.send(bytes(int(rest[0])))
        NOTES[f"flush:{tag}"] = "flushing"
        await ws.flush()
        NOTES[f"flush:{tag}"] = "flushed"
    elif name == "send_wait":
        NOTES[f"send:{tag}"] = "0"
        size, count = int(rest[0]), int(rest[1])
        for i in range(count):
            try:
                await ws.send(bytes([i % 256]) + bytes(size - 1))
            except Exception:
                NOTES[f"send:{tag}"] = "error"
                raise
            NOTES[f"send:{tag}"] = str(i + 1)
    elif name == "serialize":
        try:
            await ws.send_serialized({"n": 1, "s": "é"})
        except NoConverterError:
            await ws.send("error:no_converter")
    elif name == "deserialize":
        try:
            value = await ws.receive_deserialized()
            await ws.send_serialized({"got": value})
        except DeserializeError as e:
            frame = e.frame
            data = frame.data if isinstance(frame, wssession.Frame) else frame
            await ws.send("error:deserialize " + (data.decode() if isinstance(data, bytes) else str(data)))
    elif name == "converter":
        ws.converter = {"custom": Custom(), "none": None}.get(rest[0], state["json"])
        await ws.send("ok")
    elif name == "after_close":
        await ws.close(1000, "after")
        NOTES[f"after_close_send:{tag}"] = await outcome(lambda: ws.send("x"))
        NOTES[f"after_close_ser:{tag}"] = await outcome(lambda: ws.send_serialized(1))
    elif name == "bad_args":
        answers = [
            await refused(lambda: ws.close(1005)),
            await refused(lambda: ws.close(1000, "r" * 124)),
            await refused(lambda: ws.ping(bytes(126))),
        ]
        await ws.send(" ".join(answers))
    elif name == "shutdown":
        ws.application.close()
    elif name == "events_port":
        await ws.send(str(EVENTS_PORT))
    elif name == "application":
        await ws.send(str(ws.application.port))
    elif name == "subprotocol":
        await ws.send(ws.subprotocol or "none")
    elif name == "call":
        req = ws.call
        tests = ",".join(req.headers.get_all("X-TEST"))
        await ws.send(f"{req.method} {req.path_without_query} {req.query or ''} {tests}")
    elif name == "subscribe":
        await ws.send(str(ws.subscribe(rest[0])).lower())
    elif name == "unsubscribe":
        await ws.send(str(ws.unsubscribe(rest[0])).lower())
    elif name == "topics":
        await ws.send(",".join(ws.subscriptions()) or "-")
    elif name == "publish":
        ws.publish(rest[0], " ".join(rest[1:]))
        await ws.send("ok")
    elif name == "server_publish":
        await ws.send(str(ws.application.publish(rest[0], " ".join(rest[1:])).delivered))
    elif name == "subscribers":
        await ws.send(str(ws.application.subscriber_count(rest[0])))
    elif name == "tls":
        await ws.send("true" if ws.request.tls else "false")
    else:
        await ws.send(f"unknown command {name}")
    return True


async def scenarios(ws: wssession.ServerConnection) -> None:
    state: dict[str, Any] = {"tag": "", "tasks": set(), "json": ws.converter}
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("!"):
                if not await command(ws, state, message[1:]):
                    return
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass  # its closeReason says how it ended


class Events:
    """The push-style handler: ``!tag``, ``!fill SIZE COUNT`` (try_send) and drain notes."""

    def __init__(self) -> None:
        self.tags: dict[uuid.UUID, str] = {}

    def on_message(self, conn: wssession.ServerConnection, frame: wssession.Frame) -> None:
        words = frame.data.decode(errors="replace").removeprefix("!").split(" ")
        if words[0] == "tag":
            self.tags[conn.id] = words[1]
            conn.try_send("ok")
        elif words[0] == "fill":
            size, count = int(words[1]), int(words[2])
            letters = "".join(conn.try_send(bytes(size))[0] for _ in range(count))
            NOTES[f"try:{self.tags.get(conn.id, '')}"] = letters

    def on_drain(self, conn: wssession.ServerConnection) -> None:
        if conn.id in self.tags:
            NOTES[f"drain:{self.tags[conn.id]}"] = "1"

    def on_close(self, conn: wssession.ServerConnection, *_: Any) -> None:
        self.tags.pop(conn.id, None)


def select_subprotocol(_conn: Any, offered: Sequence[str]) -> str | None:
    return next((p for p in ("beta", "alpha") if p in offered), None)


def process_request(conn: Any, request: Any) -> Any:
    return conn.respond(403, "rejected by hook") if request.path == "/reject" else None


async def main() -> None:
    global EVENTS_PORT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    options: dict[str, Any] = dict(
        compression="deflate",
        max_size=16 * 2**20,
        ping_interval=None,
        ping_timeout=60,
        close_timeout=60,
        write_limit=(2**20, 2**18),
        ssl=tuple(args.tls) if args.tls else None,
    )
    events = wssession.serve_callbacks(Events(), "127.0.0.1", 0, **options)
    main_server = wssession.serve(
        scenarios, "127.0.0.1", args.port, select_subprotocol=select_subprotocol, process_request=process_request,
        **options,
    )
    async with events as events_server, main_server as server:
        EVENTS_PORT = events_server.port
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, server.close)
        print(f"python scenario server on 127.0.0.1:{server.port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
