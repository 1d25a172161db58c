"""The sandbox keeps its state in a file across restarts (``--state-file``, ``make run``)."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from sandbox import state_file as state_file_module
from sandbox.rdstation import SandboxConfig, SandboxServer
from sandbox.state_file import write_atomically
from shared.logging import configure_logging

Caller = Callable[..., Any]


@asynccontextmanager
async def sandbox(state_file: Path | None) -> AsyncIterator[tuple[SandboxServer, Caller]]:
    config = SandboxConfig(state_file=state_file, rate_limit=None, access_log=False)
    async with SandboxServer(config) as rd, aiohttp.ClientSession() as session:

        async def call(method: str, path: str, body: object = None) -> Any:
            url = (rd.root_url if path.startswith("/__") else rd.url) + path
            params = {} if path.startswith("/__") else {"token": rd.token}
            async with session.request(method, url, params=params, json=body) as answer:
                assert answer.status in (200, 201), await answer.text()
                return await answer.json()

        yield rd, call


async def make_deal(call: Caller, name: str, email: str) -> str:
    deal = await call("POST", "/deals", {"deal": {"name": name}})
    contact = {"name": email.split("@")[0], "emails": [{"email": email}], "deal_ids": [deal["id"]]}
    await call("POST", "/contacts", {"contact": contact})
    return str(deal["id"])


async def test_deals_contacts_and_documents_survive_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "data" / "sandbox-state.json"
    async with sandbox(state_file) as (_, call):
        first = await make_deal(call, "Contrato A", "ana@example.com")
        document = {"key": "doc-1", "filename": "a.pdf", "signers": []}
        await call("POST", "/__sandbox/clicksign/documents", {"document": document})

    async with sandbox(state_file) as (rd, call):
        found = await call("GET", "/contacts", None)
        by_email = rd.state.contacts_with_email("ANA@example.com")
        deal = await call("GET", f"/deals/{first}")
        documents = await call("GET", "/__sandbox/clicksign/documents")

    assert deal["name"] == "Contrato A"
    assert [contact["name"] for contact in found["contacts"]] == ["ana"]
    assert [contact.deal_ids for contact in by_email] == [[first]]
    assert [item["key"] for item in documents["documents"]] == ["doc-1"]


async def test_a_request_that_changes_nothing_does_not_write_the_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[Path] = []

    def counted(path: Path, data: bytes) -> None:
        writes.append(path)
        write_atomically(path, data)

    monkeypatch.setattr(state_file_module, "write_atomically", counted)
    state_file = tmp_path / "sandbox-state.json"
    async with sandbox(state_file) as (_, call):
        await make_deal(call, "Contrato A", "ana@example.com")
        written = len(writes)

        await call("DELETE", "/__sandbox/requests")  # changes no deal, contact or document

        assert len(writes) == written
        await make_deal(call, "Contrato B", "bruno@example.com")
        assert len(writes) > written


async def test_ids_go_on_after_a_restart_as_if_it_never_stopped(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    async with sandbox(state_file) as (_, call):
        first = await make_deal(call, "Contrato A", "ana@example.com")
    async with sandbox(state_file) as (rd, call):
        second = await make_deal(call, "Contrato B", "bruno@example.com")
        sequences = [deal.seq for deal in rd.state.deals]
    async with sandbox(None) as (_, call):
        uninterrupted = [
            await make_deal(call, "Contrato A", "ana@example.com"),
            await make_deal(call, "Contrato B", "bruno@example.com"),
        ]

    assert [first, second] == uninterrupted
    assert sequences == [1, 3]


async def test_a_reset_is_kept_too(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    async with sandbox(state_file) as (_, call):
        await make_deal(call, "Contrato A", "ana@example.com")
        await call("POST", "/__sandbox/reset")
        after_reset = await make_deal(call, "Contrato B", "bruno@example.com")

    async with sandbox(state_file) as (rd, _):
        assert [deal.id for deal in rd.state.deals] == [after_reset]
        assert [contact.name for contact in rd.state.contacts] == ["bruno"]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"version": 99}', "another seed"],
    ids=["damaged", "other-format", "other-seed"],
)
async def test_a_file_it_cannot_read_is_set_aside_and_said(
    tmp_path: Path, content: bytes | str
) -> None:
    state_file = tmp_path / "sandbox-state.json"
    if content == "another seed":
        # A sandbox writes its state when it stops, requests or not.
        config = SandboxConfig(seed="other", state_file=state_file, access_log=False)
        async with SandboxServer(config):
            pass
        content = state_file.read_bytes()
    else:
        assert isinstance(content, bytes)
        state_file.write_bytes(content)
    stream = io.StringIO()
    configure_logging("rd-sandbox", stream=stream)

    async with sandbox(state_file) as (rd, call):
        created = await make_deal(call, "Contrato A", "ana@example.com")

    assert rd.state.deal(created) is not None
    assert (tmp_path / "sandbox-state.json.unreadable").read_bytes() == content
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    (warning,) = [line for line in lines if line["event"] == "rd_sandbox.state_unreadable"]
    assert warning["level"] == "warning"
    assert warning["kept_as"].endswith("sandbox-state.json.unreadable")


def test_a_write_that_fails_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_file = tmp_path / "sandbox-state.json"
    write_atomically(state_file, b'{"old": true}')

    def refuse(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(state_file, b'{"new": true}')

    assert state_file.read_bytes() == b'{"old": true}'
    assert os.listdir(tmp_path) == ["sandbox-state.json"]
