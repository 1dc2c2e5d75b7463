"""Mirrors ``websockets.asyncio.server``."""

from ..server import *  # noqa: F403 -- the same API
from ..server import __all__ as __all__
