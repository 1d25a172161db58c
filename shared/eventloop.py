"""The event loop a service runs on: uvloop where it is installed, asyncio's own otherwise.

uvloop (libuv under asyncio's API) takes a visible share off the per-request CPU of both services
(see docs/performance.md). ``EVENT_LOOP=asyncio`` keeps the standard loop, for an operator who
wants to rule the loop out while chasing a problem.
"""

from __future__ import annotations

import asyncio
from typing import Literal

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


class EventLoopUnavailable(RuntimeError):
    """``EVENT_LOOP=uvloop`` on a platform where uvloop is not installed."""


def new_event_loop(choice: EventLoopChoice = "auto") -> asyncio.AbstractEventLoop:
    """A fresh loop of the chosen kind; ``auto`` means uvloop when it can be imported."""
    if choice == "asyncio":
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise EventLoopUnavailable("EVENT_LOOP=uvloop but uvloop is not installed") from None
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``, for the start-up log line."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
