"""The history page's Replay button against a real broker and the RD sandbox: an event parked by
RD's 422 goes back to the work queue through crm_writer's own connection, is processed, and the
history says who replayed it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from sandbox.rdstation.server import SandboxServer
from services.crm_writer.keys import STORE
from services.crm_writer.store import EventRecord, EventStatus
from shared.topology import Topology
from tests.consumer_harness import publish_sign

WAIT_SECONDS = 20.0
Client = TestClient[object, object]


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def parked_by_rd(client: Client, rd: SandboxServer, amqp_url: str, topology: Topology) -> str:
    async def ready() -> bool:
        return (await client.get("/readyz")).status == 200

    await until(ready, "crm_writer to be ready")
    rd.faults.reject_deal_creation("já existe um negócio com este nome", field="name")
    event_id = await publish_sign(amqp_url, topology)
    await until(lambda: has_status(client, event_id, EventStatus.PARKED), "the event to park")
    return event_id


async def has_status(client: Client, event_id: str, status: EventStatus) -> bool:
    record = await client.server.app[STORE].get_event(event_id)
    return record is not None and record.status is status


async def stored(client: Client, event_id: str) -> EventRecord:
    record = await client.server.app[STORE].get_event(event_id)
    assert record is not None
    return record


async def press(client: Client, path: str, **fields: str) -> str:
    """Open ``path``, press its form that posts to /replay with ``fields``; the page after."""
    html = await (await client.get(path)).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf, html
    answer = await client.post(
        "/replay",
        data={"csrf": csrf.group(1), "back": path, **fields},
        headers={"Origin": str(client.make_url("")).rstrip("/")},
    )
    assert answer.status == 200
    return await answer.text()


async def test_replay_sends_a_parked_event_back_and_records_who_did_it(
    writer_client: Client, rd: SandboxServer, amqp_url: str, topology: Topology
) -> None:
    event_id = await parked_by_rd(writer_client, rd, amqp_url, topology)
    parked_page = await (await writer_client.get(f"/event/{event_id}")).text()
    assert "já existe um negócio com este nome" in parked_page
    rd.faults.clear_deal_rejection()

    after = await press(writer_client, f"/event/{event_id}", event_id=event_id)

    assert "1 evento(s) reenviado(s)" in after
    await until(lambda: has_status(writer_client, event_id, EventStatus.DONE), "the replayed event")
    record = await stored(writer_client, event_id)
    assert [entry["by"] for entry in record.replays] == ["loopback"]
    assert record.deal_id is not None
    done_page = await (await writer_client.get(f"/event/{event_id}")).text()
    assert "Reenviado por loopback em" in done_page
    assert 'class="chip done"' in done_page


async def test_replay_all_sends_every_parked_event_back(
    writer_client: Client, rd: SandboxServer, amqp_url: str, topology: Topology
) -> None:
    first = await parked_by_rd(writer_client, rd, amqp_url, topology)
    second = await publish_sign(amqp_url, topology)
    await until(lambda: has_status(writer_client, second, EventStatus.PARKED), "the second to park")
    rd.faults.clear_deal_rejection()

    after = await press(writer_client, "/?status=parked", all="1")

    assert "2 evento(s) reenviado(s)" in after
    for event_id in (first, second):
        await until(lambda e=event_id: has_status(writer_client, e, EventStatus.DONE), event_id)
        assert len((await stored(writer_client, event_id)).replays) == 1


async def test_an_event_that_is_not_parked_is_named_and_nothing_is_recorded(
    writer_client: Client, rd: SandboxServer, amqp_url: str, topology: Topology
) -> None:
    event_id = await parked_by_rd(writer_client, rd, amqp_url, topology)
    rd.faults.clear_deal_rejection()
    await press(writer_client, f"/event/{event_id}", event_id=event_id)
    await until(lambda: has_status(writer_client, event_id, EventStatus.DONE), "the replayed event")

    again = await press(writer_client, f"/event/{event_id}", event_id=event_id)

    assert f"Não estava(m) no estacionamento: {event_id}" in again
    assert len((await stored(writer_client, event_id)).replays) == 1
