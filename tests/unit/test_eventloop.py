"""The services' event loop choice (EVENT_LOOP)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from shared.eventloop import EventLoopUnavailable, loop_name, new_event_loop
from shared.settings import ConfigurationError, ServiceSettings, load_settings


def _run_and_close(loop: asyncio.AbstractEventLoop) -> str:
    try:
        return loop.run_until_complete(asyncio.sleep(0, result=loop_name(loop)))
    finally:
        loop.close()


def test_auto_picks_uvloop_when_installed() -> None:
    loop = new_event_loop("auto")
    assert type(loop).__module__.startswith("uvloop")
    assert _run_and_close(loop) == "uvloop"


def test_asyncio_keeps_the_standard_loop() -> None:
    loop = new_event_loop("asyncio")
    assert isinstance(loop, asyncio.BaseEventLoop)
    assert _run_and_close(loop) == "asyncio"


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert _run_and_close(new_event_loop("auto")) == "asyncio"


def test_asking_for_uvloop_without_it_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    with pytest.raises(EventLoopUnavailable, match="EVENT_LOOP=uvloop"):
        new_event_loop("uvloop")


def test_setting_accepts_the_three_choices_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENT_LOOP", "asyncio")
    assert load_settings(ServiceSettings).event_loop == "asyncio"
    monkeypatch.setenv("EVENT_LOOP", "trio")
    with pytest.raises(ConfigurationError, match="EVENT_LOOP"):
        load_settings(ServiceSettings)
