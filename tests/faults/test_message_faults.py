"""Faults carried by the messages themselves: poison, garbage, duplicates, disorder, concurrency."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from sandbox.clicksign import make_signers
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.mapping_file import DealMapping, MappingFile
from services.crm_writer.pipeline import DealPipeline, DealResult
from services.crm_writer.rdstation import RdCall, RdStationClient
from services.crm_writer.replay import replay_parked
from services.crm_writer.store import EventStatus, Store, open_store
from shared.events import SignedDocumentEvent
from shared.messages import PARKED_REASON_HEADER
from shared.topology import Topology, routing_key_for
from tests.clicksign_events import document_events, sign_events
from tests.consumer_harness import (
    ConsumerFactory,
    all_reach,
    publish_event,
    until,
    wait_for_parked,
)
from tests.faults.conftest import Figures
from tests.faults.effects import tally_effects


class ExplodingPipeline(DealPipeline):
    """A pipeline with a bug that one document triggers on every delivery."""

    def __init__(
        self, store: Store, rd: RdStationClient, settings: DealSettings, poison_key: str
    ) -> None:
        super().__init__(store, rd, settings)
        self.poison_key: str | None = poison_key
        self.explosions = 0

    async def apply(self, event: SignedDocumentEvent, calls: list[RdCall]) -> DealResult:
        if event.document_key == self.poison_key:
            self.explosions += 1
            raise RuntimeError("a bug this document triggers")
        return await super().apply(event, calls)


async def test_poison_message_is_parked_by_the_delivery_limit_and_the_rest_flows(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    impatient_rd_client: RdStationClient,
    deal_settings: DealSettings,
    figures: Figures,
) -> None:
    events = sign_events(11, "poison", seed=100)
    poison = events[5]
    pipeline = ExplodingPipeline(
        sqlite_store, impatient_rd_client, deal_settings, poison.document_key
    )
    await consumers.start(amqp_connection, sqlite_store, prefetch=4, pipeline=pipeline)

    for event in events:
        await publish_event(channel, topology, event)

    healthy = [event for event in events if event is not poison]
    await all_reach(sqlite_store, [event.event_id for event in healthy])
    [parked] = await wait_for_parked(amqp_connection, topology, 1)
    record = (await all_reach(sqlite_store, [poison.event_id], EventStatus.PARKED))[0]
    explosions = pipeline.explosions

    # The bug is fixed: the parked event is replayed and takes effect once.
    pipeline.poison_key = None
    report = await replay_parked(amqp_connection, topology, event_ids=[poison.event_id])
    await all_reach(sqlite_store, [poison.event_id])
    tally = await tally_effects(sqlite_store, rd.state, events)
    figures.record(
        faults_injected=1, events_sent=len(events), tally=tally, poison_deliveries=explosions
    )

    assert parked.message_id == poison.event_id
    assert parked.headers["x-first-death-reason"] == "delivery_limit"
    assert explosions == topology.delivery_limit + 1
    assert "delivery limit" in (record.error or "")
    assert report.replayed_ids == [poison.event_id]
    assert tally.clean, tally.problems


async def test_garbage_is_parked_and_the_consumer_stays_up(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    await consumers.start(amqp_connection, sqlite_store)
    exchange = await channel.get_exchange(topology.events_exchange)
    current = sign_events(1, "future", seed=199)[0].to_json()
    future = current.replace(b'"schema_version":1', b'"schema_version":2')
    assert future != current
    garbage = [
        aio_pika.Message(b"\x00\xffnot json at all", message_id="garbage-binary"),
        aio_pika.Message(b'{"hello": "world"}', message_id="garbage-shape"),
        aio_pika.Message(b"{}", headers={"schema_version": 99}, message_id="garbage-version"),
        aio_pika.Message(future, message_id="garbage-body-version"),
    ]
    events = sign_events(12, "garbage", seed=100)
    for index, event in enumerate(events[:8]):
        await publish_event(channel, topology, event)
        if index % 2 == 1:
            await exchange.publish(garbage[index // 2], routing_key_for("sign"), mandatory=True)

    parked = await wait_for_parked(amqp_connection, topology, len(garbage))
    await all_reach(sqlite_store, [event.event_id for event in events[:8]])
    for event in events[8:]:  # still consuming after the garbage
        await publish_event(channel, topology, event)
    await all_reach(sqlite_store, [event.event_id for event in events])
    tally = await tally_effects(sqlite_store, rd.state, events)
    figures.record(faults_injected=len(garbage), events_sent=len(events), tally=tally)

    assert sorted(str(m.message_id) for m in parked) == sorted(str(g.message_id) for g in garbage)
    assert all("unreadable" in str(m.headers[PARKED_REASON_HEADER]) for m in parked)
    assert {m.body for m in parked} == {g.body for g in garbage}
    assert tally.clean, tally.problems


async def test_duplicated_shuffled_concurrent_events_leave_one_deal_per_document(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    sqlite_store_path: Path,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    """Two consumers (two replicas sharing the SQLite file), every event three times, all
    shuffled and published at once; one signer signs two of the documents."""
    second_store = open_store(f"sqlite:///{sqlite_store_path}")
    await second_store.open()
    try:
        await consumers.start(amqp_connection, sqlite_store, prefetch=8)
        await consumers.start(amqp_connection, second_store, prefetch=8)
        shared = make_signers(1, seed=900)[0]
        events = []
        for index in range(6):
            signers = make_signers(3, seed=10 + index)
            if index < 2:
                signers[1] = shared
            events += document_events(index, signers, tag="crowd")
        copies = [event for event in events for _ in range(3)]
        random.Random(4).shuffle(copies)

        await asyncio.gather(*(publish_event(channel, topology, copy) for copy in copies))

        await all_reach(sqlite_store, [event.event_id for event in events])

        async def every_copy_seen() -> bool:
            return await _duplicates(sqlite_store, events) == 2 * len(events)

        await until(every_copy_seen, "every duplicate copy to be consumed")
        tally = await tally_effects(sqlite_store, rd.state, events)
        figures.record(
            faults_injected=len(copies) - len(events),
            events_sent=len(copies),
            tally=tally,
            duplicates_recorded=await _duplicates(sqlite_store, events),
        )
    finally:
        await consumers.stop_all()
        await second_store.close()

    assert tally.clean, tally.problems
    assert len(rd.state.deals) == 6
    shared_contacts = rd.state.contacts_with_email(shared.email)
    assert len(shared_contacts) == 1
    assert len(shared_contacts[0].deal_ids) == 2


async def test_the_order_of_a_documents_events_does_not_change_the_end_state(
    consumers: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    figures: Figures,
) -> None:
    """One consumer taking one message at a time, so each document sees exactly its order."""
    await consumers.start(amqp_connection, sqlite_store, prefetch=1)
    orders = {
        "natural": [0, 1, 2, 3],
        "closed first": [3, 0, 1, 2],
        "signers reversed": [2, 1, 0, 3],
        "closed between": [1, 3, 2, 0],
    }
    per_order = {
        name: document_events(index, make_signers(3, seed=50 + index), tag="order")
        for index, name in enumerate(orders)
    }
    for name, order in orders.items():
        for position in order:
            await publish_event(channel, topology, per_order[name][position])

    every_event = [event for events in per_order.values() for event in events]
    await all_reach(sqlite_store, [event.event_id for event in every_event])
    tally = await tally_effects(sqlite_store, rd.state, every_event)
    figures.record(faults_injected=len(orders) - 1, events_sent=len(every_event), tally=tally)

    end_states = {
        name: await _end_state(sqlite_store, rd, events) for name, events in per_order.items()
    }
    assert tally.clean, tally.problems
    assert len(set(end_states.values())) == 1, end_states


async def test_a_late_sign_does_not_move_a_finished_deal_back(
    amqp_connection: AbstractRobustConnection,
    channel: AbstractChannel,
    topology: Topology,
    sqlite_store: Store,
    rd: SandboxServer,
    impatient_rd_client: RdStationClient,
    deal_settings: DealSettings,
) -> None:
    signing, signed = rd.state.stage_id("Em assinatura"), rd.state.stage_id("Contrato assinado")
    mapping = MappingFile(
        deal=DealMapping(stages={"sign": signing, "document_closed": signed}, won_on_finish=True)
    )
    staged = dataclasses.replace(deal_settings, mapping=mapping)
    factory = ConsumerFactory(topology, impatient_rd_client, staged)
    natural, late = (
        document_events(index, make_signers(2, seed=70 + index), tag="stages") for index in (0, 1)
    )
    try:
        await factory.start(amqp_connection, sqlite_store, prefetch=1)
        for event in [*natural, late[2], late[0], late[1]]:
            await publish_event(channel, topology, event)
        await all_reach(sqlite_store, [event.event_id for event in [*natural, *late]])
    finally:
        await factory.stop_all()

    assert await _end_state(sqlite_store, rd, late) == await _end_state(sqlite_store, rd, natural)


async def _end_state(
    store: Store, rd: SandboxServer, events: list[SignedDocumentEvent]
) -> tuple[object, ...]:
    """What a document ended as in RD, independent of which document it is."""
    document = await store.get_document(events[0].document_key)
    assert document is not None and document.deal_id is not None
    deal = rd.state.deal(document.deal_id)
    assert deal is not None
    emails = [str(signer.email).lower() for signer in events[-1].signers]
    linked = tuple(
        any(deal.id in contact.deal_ids for contact in rd.state.contacts_with_email(email))
        for email in emails
    )
    return (linked, deal.stage_id, deal.win, len(rd.state.contacts_of_deal(deal.id)))


async def _duplicates(store: Store, events: list[SignedDocumentEvent]) -> int:
    records = [await store.get_event(event.event_id) for event in events]
    return sum(record.duplicates for record in records if record is not None)
