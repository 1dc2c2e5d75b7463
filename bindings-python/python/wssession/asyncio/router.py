"""Mirrors ``websockets.asyncio.router``: ``route(url_map, ...)`` dispatches each connection to the
handler its path matches in a ``werkzeug.routing.Map`` (werkzeug is an optional dependency)."""

from __future__ import annotations

import http
import inspect
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..http11 import Request, Response
from ..server import HandshakeConnection, Server, ServerConnection, serve

if TYPE_CHECKING:
    from werkzeug.routing import Map

__all__ = ["route", "unix_route", "Router"]


class Router:
    """Matches a request's path in ``url_map``; the endpoint is the handler, called with the
    connection and the values captured in the URL as keyword arguments."""

    def __init__(self, url_map: Map, server_name: str | None = None, url_scheme: str = "ws") -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        for rule in url_map.iter_rules():
            rule.websocket = True  # every rule of this map is a WebSocket endpoint

    def get_server_name(self, connection: HandshakeConnection, request: Request) -> str:
        """The name the URLs are bound to: ``server_name``, else the request's Host."""
        return self.server_name if self.server_name is not None else request.headers.get("Host", "")

    def redirect(self, connection: HandshakeConnection, url: str) -> Response:
        """The answer to a rule's ``redirect_to``: 302 with ``Location``."""
        response = connection.respond(http.HTTPStatus.FOUND, f"Found at {url}")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: HandshakeConnection) -> Response:
        """The answer when no rule matches: 404."""
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found")

    def route_request(self, connection: HandshakeConnection, request: Request) -> Response | None:
        """A ``process_request``: picks the handler (None) or answers with a redirect or a 404."""
        from werkzeug.exceptions import NotFound
        from werkzeug.routing import RequestRedirect

        adapter = self.url_map.bind(server_name=self.get_server_name(connection, request), url_scheme=self.url_scheme)
        target = urllib.parse.urlsplit(request.path)
        try:
            endpoint, values = adapter.match(path_info=target.path, query_args=target.query, websocket=True)
        except RequestRedirect as redirect:
            return self.redirect(connection, redirect.new_url)
        except NotFound:
            return self.not_found(connection)
        connection.handler = endpoint  # type: ignore[attr-defined]
        connection.handler_kwargs = values  # type: ignore[attr-defined]
        return None

    async def handler(self, connection: ServerConnection) -> None:
        """Runs the handler ``route_request`` picked for this connection."""
        state = connection.__dict__
        await state["handler"](connection, **state["handler_kwargs"])


def route(
    url_map: Map,
    *args: Any,
    server_name: str | None = None,
    ssl: Any = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> Server:
    """As :func:`wssession.serve`, dispatching connections by path with ``url_map``
    (websockets' ``route``); ``ssl=True`` builds ``wss://`` redirect URLs behind a TLS proxy."""
    try:
        import werkzeug.routing  # noqa: F401 -- fails early without werkzeug, as websockets does
    except ImportError as exc:  # pragma: no cover -- the test environment has werkzeug
        raise ImportError("route() requires werkzeug") from exc
    if ssl is not True and ssl is not None:
        kwargs["ssl"] = ssl
    router = (create_router or Router)(url_map, server_name, "ws" if ssl is None else "wss")
    user: Callable[[HandshakeConnection, Request], Awaitable[Response | None] | Response | None] | None = (
        kwargs.pop("process_request", None)
    )

    async def process_request(connection: HandshakeConnection, request: Request) -> Response | None:
        if user is not None:
            response = user(connection, request)
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                return response
        return router.route_request(connection, request)

    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: Map, path: str | None = None, **kwargs: Any) -> Server:
    """As :func:`route` on a Unix socket at ``path`` (websockets' ``unix_route``)."""
    return route(url_map, unix=True, path=path, **kwargs)
