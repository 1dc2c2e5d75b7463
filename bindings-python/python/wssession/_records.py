"""The engine's log records on their way to the server's logger (``logger=``)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._wssession import ServerConnection


class EngineRecords(logging.LoggerAdapter[Any]):
    """Hands the engine's records to ``logger``, adding the connection a record is about as
    ``websocket`` (the extra websockets puts on connection records), found by the engine's session id
    in ``extra["wssession"]["id"]``, while that connection is alive."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        super().__init__(logger, {})
        #: The server's connections by engine session id (weak: a record never keeps one alive).
        self.connections: weakref.WeakValueDictionary[int, ServerConnection] = weakref.WeakValueDictionary()

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        session = extra.get("wssession", {}).get("id")
        conn = self.connections.get(int(session)) if session is not None else None
        if conn is not None:
            extra["websocket"] = conn
        kwargs["extra"] = extra
        return msg, kwargs
