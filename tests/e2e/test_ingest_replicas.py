"""Ingest keeps no state between requests: two ``python -m services.ingest`` on one topology take
webhooks side by side, Clicksign's retries of one webhook may reach both, and crm_writer still
makes one deal per document (a webhook published twice is one event, absorbed as a duplicate)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from sandbox.clicksign import BRASILIA, build_webhook, make_signers, post_webhook
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.store import Store
from shared.topology import Topology
from tests.consumer_harness import all_reach
from tests.service_processes import (
    WEBHOOK_SECRET,
    ProcessGroup,
    ServiceProcess,
    crm_writer_env,
    free_port,
    start_ingest,
)

pytestmark = pytest.mark.e2e

DOCUMENTS = 6


async def post(ingest: ServiceProcess, body: dict[str, Any], http: aiohttp.ClientSession) -> str:
    url = f"{ingest.base_url}/webhooks/clicksign"
    status, answer = await post_webhook(url, body, WEBHOOK_SECRET, http)
    assert status == 202, answer
    event_id: str = answer["event_id"]
    return event_id


async def test_two_ingests_publish_every_webhook_and_one_sent_to_both_is_one_event(
    amqp_url: str,
    service_topology: Topology,
    processes: ProcessGroup,
    rd: SandboxServer,
    sqlite_store_url: str,
    sqlite_store: Store,
) -> None:
    ingests = [await start_ingest(processes, amqp_url, service_topology) for _ in range(2)]
    port = free_port()
    env = crm_writer_env(
        amqp_url=amqp_url,
        topology=service_topology,
        port=port,
        store_url=sqlite_store_url,
        rd_url=rd.url,
        stage_id=rd.state.stage_id("Em assinatura"),
    )
    writer = await processes.start("crm_writer", "services.crm_writer", env, port)
    for service in [*ingests, writer]:
        await service.wait_until_ready()
    now = datetime.now(BRASILIA)
    documents = {
        str(uuid.uuid4()): make_signers(2, seed=160 + number) for number in range(DOCUMENTS)
    }
    webhooks = [
        build_webhook(
            "sign", document_key=key, signers=signers, signer_index=index, occurred_at=now
        )
        for key, signers in documents.items()
        for index in range(len(signers))
    ]
    # Every third webhook goes to both ingests at once (Clicksign retrying through another pod);
    # the others alternate.
    twice = set(range(0, len(webhooks), 3))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        answers = await asyncio.gather(
            *(
                asyncio.gather(*(post(ingest, body, http) for ingest in ingests))
                if number in twice
                else asyncio.gather(post(ingests[number % 2], body, http))
                for number, body in enumerate(webhooks)
            )
        )
    ids_per_webhook = [set(ids) for ids in answers]
    event_ids = [ids.pop() for ids in ids_per_webhook if len(ids) == 1]
    records = await all_reach(sqlite_store, event_ids, timeout=60)

    assert len(event_ids) == len(webhooks), "both ingests named a webhook by the same event id"
    assert len(rd.state.deals) == DOCUMENTS
    for key, signers in documents.items():
        (deal_id,) = {record.deal_id for record in records if record.document_key == key}
        linked = sorted(contact.emails[0].email for contact in rd.state.contacts_of_deal(deal_id))
        assert linked == sorted(signer.email for signer in signers)
    duplicates = [record.duplicates for record in records]
    assert duplicates == [1 if number in twice else 0 for number in range(len(webhooks))]
    published = [ingest.events().count("event.published") for ingest in ingests]
    assert sum(published) == len(webhooks) + len(twice)
    assert all(published), f"both ingests published: {published}"
