"""Mirrors ``websockets.http11``: the handshake's ``Request`` and ``Response``."""

from __future__ import annotations

import sys

from ._wssession import Headers, Request

__all__ = ["SERVER", "Request", "Response"]

#: The default ``Server`` header of the 101 response (``server_header=``).
SERVER: str = f"Python/{sys.version_info.major}.{sys.version_info.minor} wssession/0.1.0"


class Response:
    """An HTTP response of the opening handshake (websockets' ``Response``).

    ``process_request`` returns one to answer instead of upgrading; ``process_response`` receives the
    101 the server is about to send and may modify its headers or return another one.
    """

    def __init__(self, status_code: int, reason_phrase: str, headers: Headers, body: bytes = b"") -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status_code} {self.reason_phrase})"
