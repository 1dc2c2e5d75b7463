"""HTTP Basic Authentication for the opening handshake (websockets' ``basic_auth``)."""

from __future__ import annotations

import base64
import hmac
import http
import inspect
from collections.abc import Awaitable, Callable, Iterable

from ._wssession import Request
from .http11 import Response
from .server import HandshakeConnection

__all__ = ["basic_auth"]


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
) -> Callable[[HandshakeConnection, Request], Awaitable[Response | None]]:
    """A ``process_request`` enforcing HTTP Basic Authentication (websockets' ``basic_auth``).

    Give either ``credentials`` (a ``(username, password)`` pair or a list of them) or
    ``check_credentials(username, password)`` (sync or async). On success the connection's
    ``username`` attribute is set; otherwise the answer is 401 with ``WWW-Authenticate``.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    check: Callable[[str, str], Awaitable[bool] | bool]
    if credentials is not None:
        items: list[object] = [credentials] if _is_credentials(credentials) else list(credentials)
        pairs = [p for p in items if isinstance(p, tuple) and _is_credentials(p)]
        if not pairs or len(pairs) != len(items):
            raise TypeError(f"invalid credentials argument: {credentials}")
        known: dict[str, str] = dict(pairs)

        def check(username: str, password: str) -> bool:
            expected = known.get(username)
            return expected is not None and hmac.compare_digest(expected, password)

    else:
        assert check_credentials is not None
        check = check_credentials
    challenge = f'Basic realm="{realm}", charset="UTF-8"'

    def refuse(conn: HandshakeConnection, text: str) -> Response:
        response = conn.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = challenge
        return response

    async def process_request(conn: HandshakeConnection, request: Request) -> Response | None:
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return refuse(conn, "Missing credentials\n")
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError(scheme)
            username, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
            if not sep:
                raise ValueError("no colon")
        except (ValueError, UnicodeDecodeError):
            return refuse(conn, "Unsupported credentials\n")
        valid = check(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return refuse(conn, "Invalid credentials\n")
        conn.username = username  # type: ignore[attr-defined]
        return None

    return process_request


def _is_credentials(value: object) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)
