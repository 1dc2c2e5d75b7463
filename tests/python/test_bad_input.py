"""Wrong types raise TypeError, out-of-range values ValueError; nothing crashes the interpreter."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from websockets.asyncio.client import connect

import wssession
from conftest import Box, running


async def noop(ws: wssession.ServerConnection) -> None:
    await ws.wait_closed()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(port="80"), TypeError),
        (dict(port=70000), ValueError),
        (dict(port=-1), ValueError),
        (dict(ping_interval="1"), TypeError),
        (dict(ping_interval=-1), ValueError),
        (dict(ping_timeout=0), ValueError),
        (dict(close_timeout=float("nan")), ValueError),
        (dict(max_size=0), ValueError),
        (dict(max_size=1.5), TypeError),
        (dict(max_queue=0), ValueError),
        (dict(max_queue=(16, 4)), ValueError),
        (dict(write_limit="big"), TypeError),
        (dict(write_limit=(10, 20)), ValueError),
        (dict(compression="gzip"), ValueError),
        (dict(subprotocols="chat"), TypeError),
        (dict(origins=[1]), TypeError),
        (dict(process_request=42), TypeError),
        (dict(ssl=object()), TypeError),
        (dict(host=1), TypeError),
    ],
)
def test_serve_validates_its_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    host = kwargs.pop("host", "127.0.0.1")
    port = kwargs.pop("port", 0)
    with pytest.raises(error):
        wssession.serve(noop, host, port, **kwargs)


@pytest.mark.parametrize(
    "kwargs, core_message",
    [
        (dict(max_size=0), "max_frame_size must be at least 1"),
        (dict(max_queue=0), "incoming_queue must be at least 1"),
        (dict(max_connections=0), "max_connections must be at least 1"),
        (dict(backlog=0), "backlog must be at least 1"),
        (dict(open_timeout=0), "handshake_timeout_ms must be at least 1"),
        (dict(ping_timeout=0), "timeout_ms must be at least 1"),
    ],
)
def test_serve_refuses_values_outside_the_cores_ranges_with_the_cores_error(
    kwargs: dict[str, Any], core_message: str
) -> None:
    # The ranges are the core's (ServerConfig::validate), the same on every surface; serve() raises them.
    with pytest.raises(wssession.InvalidArgumentError, match=core_message):
        wssession.serve(noop, "127.0.0.1", 0, **kwargs)


def test_serve_rejects_a_non_callable_handler() -> None:
    with pytest.raises(TypeError):
        wssession.serve("handler", "127.0.0.1", 0)  # type: ignore[arg-type]


async def test_binding_an_unresolvable_host_raises_a_websocket_exception() -> None:
    with pytest.raises(OSError):
        async with wssession.serve(noop, "no-such-host.invalid", 0):
            pass


def test_frame_constructor_validates_types_and_ranges() -> None:
    with pytest.raises(TypeError):
        wssession.Frame("1", b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wssession.Frame(3, b"x")
    with pytest.raises(TypeError):
        wssession.Frame(2, 123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wssession.Frame(9, b"x" * 126)
    with pytest.raises(TypeError):
        wssession.Frame.binary("str")  # type: ignore[arg-type]
    f = wssession.Frame(2, b"ok")
    assert f == wssession.Frame.binary(b"ok") and len(f) == 2 and hash(f) == hash(wssession.Frame.binary(b"ok"))


def test_headers_validate_their_input() -> None:
    with pytest.raises(TypeError):
        wssession.Headers("a: b")
    with pytest.raises(TypeError):
        wssession.Headers([("a", 1)])
    h = wssession.Headers({"A": "1"})
    h["a"] = "2"
    assert h["A"] == "1" and h.get_all("a") == ["1", "2"] and len(h) == 2 and list(h) == ["A", "a"]
    del h["a"]
    assert "a" not in h and h.get("a", "d") == "d"
    with pytest.raises(KeyError):
        h["missing"]


async def test_connection_members_raise_type_and_value_errors() -> None:
    got = Box()

    async def handler(ws: wssession.ServerConnection) -> None:
        results: list[str] = []

        def check(error: type[Exception], fn: Callable[[], Any]) -> None:
            try:
                fn()
            except error:
                results.append("ok")
            except Exception as exc:  # pragma: no cover - reported below
                results.append(f"wrong {type(exc).__name__}: {exc}")
            else:
                results.append(f"no error for {fn}")

        def setattr_(name: str, value: Any) -> Callable[[], None]:
            return lambda: setattr(ws, name, value)

        check(TypeError, lambda: ws.send({"a": 1}))
        check(TypeError, lambda: ws.send(12))
        check(TypeError, lambda: ws.send(["a", b"b"]))
        check(TypeError, lambda: ws.send([1]))
        check(TypeError, lambda: ws.close("1000"))  # type: ignore[arg-type]
        check(TypeError, lambda: ws.close(1000, 5))  # type: ignore[arg-type]
        check(ValueError, lambda: ws.close(1005))
        check(ValueError, lambda: ws.close(70000))
        check(ValueError, lambda: ws.close(1000, "x" * 124))
        check(ValueError, lambda: ws.ping(b"x" * 126))
        check(TypeError, lambda: ws.ping(1))  # type: ignore[arg-type]
        check(ValueError, setattr_("max_frame_size", 0))
        check(ValueError, setattr_("max_frame_size", -5))
        check(ValueError, setattr_("max_frame_size", 2**70))
        check(TypeError, setattr_("max_frame_size", "big"))
        check(ValueError, setattr_("timeout_millis", 0))
        check(ValueError, setattr_("ping_interval", -1))
        check(TypeError, setattr_("ping_interval", "1"))
        check(TypeError, setattr_("masking", "yes"))
        check(TypeError, setattr_("converter", 42))
        check(TypeError, setattr_("ping_interval_millis", True))
        check(wssession.InvalidArgumentError, lambda: ws.close(1005))
        got.put(results)

    async with running(handler) as (_, url), connect(url):
        results = await got.get()
        assert results == ["ok"] * len(results), results


async def test_process_request_responses_are_checked_by_the_engine_with_the_ranges_of_every_surface() -> None:
    """Status 100-599 but not 101, header names HTTP tokens, no CR/LF in values (the core decides,
    as it does for C and Node): anything else becomes a 500 instead of reaching the wire."""
    import asyncio

    async def status_for(response: wssession.Response) -> int:
        def process_request(connection: Any, request: Any) -> Any:
            return response

        async with running(noop, process_request=process_request) as (server, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
            writer.close()
            return int(head.split()[1])

    def response(status: int, headers: list[tuple[str, str]] | None = None) -> wssession.Response:
        return wssession.Response(status, "Reason", wssession.Headers(headers or []), b"body")

    assert await status_for(response(599)) == 599
    assert await status_for(response(403, [("X-Why", "tab\tis fine")])) == 403
    assert await status_for(response(101)) == 500
    assert await status_for(response(600)) == 500
    assert await status_for(response(99)) == 500
    assert await status_for(response(403, [("X-Why", "a\r\nSet-Cookie: x=1")])) == 500
    assert await status_for(response(403, [("Bad Name", "v")])) == 500
