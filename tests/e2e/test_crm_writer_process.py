"""The whole system as real processes: a signed webhook into ``python -m services.ingest``,
through the real broker, into ``python -m services.crm_writer`` (real SQLite file or PostgreSQL
database), out to the RD Station sandbox served on a real port by this test process.

The sandbox is the RD account: deals, contacts and links are checked in its state; the event
history is read from crm_writer's own ``/events`` API, the way an operator would.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from sandbox.clicksign import (
    BRASILIA,
    SampleSigner,
    build_webhook,
    encode,
    make_signers,
    post_webhook,
    thin,
)
from sandbox.rdstation.models import Contact
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.settings import SANDBOX_TOKEN
from services.crm_writer.store.stored_payload import stored_payload
from services.crm_writer.templates import PLACEHOLDERS
from shared.events import parse_clicksign_webhook
from shared.topology import Topology
from tests.service_processes import (
    SHUTDOWN_SECONDS,
    START_SECONDS,
    WAIT_SECONDS,
    WEBHOOK_SECRET,
    ProcessGroup,
    ServiceProcess,
    crm_writer_env,
    free_port,
    log_problems,
    wait_until,
)

pytestmark = pytest.mark.e2e

SIGNED_STAGE = "Em assinatura"
# At INFO: ingest's one line per webhook, then crm_writer's (webhook.received is at DEBUG).
STORY = ("event.published", "event.consumed", "deal.created", "event.processed")
# A SQLite lease left by a killed holder is taken over once it expires (30 s).
AFTER_A_CRASH_SECONDS = 60.0
HISTORY_CALL_FIELDS = {"method", "path", "request", "status", "response"}


@dataclass
class Stack:
    """The running system and the few moves a test makes on it."""

    amqp_url: str
    topology: Topology
    rd: SandboxServer
    processes: ProcessGroup
    http: aiohttp.ClientSession
    ingest: ServiceProcess

    @property
    def stage_id(self) -> str:
        return self.rd.state.stage_id(SIGNED_STAGE)

    def crm_writer_env(
        self, store_url: str, *, token: str | None = None, **variables: str
    ) -> tuple[int, dict[str, str]]:
        port = free_port()
        env = crm_writer_env(
            amqp_url=self.amqp_url,
            topology=self.topology,
            port=port,
            store_url=store_url,
            rd_url=self.rd.url,
            token=token,
            stage_id=self.stage_id,
            **variables,
        )
        return port, env

    async def start_crm_writer(
        self, store_url: str, *, token: str | None = None, ready: bool = True, **variables: str
    ) -> ServiceProcess:
        """crm_writer in the sandbox mode, or on the real-token path with ``token``."""
        port, env = self.crm_writer_env(store_url, token=token, **variables)
        writer = await self.processes.start("crm_writer", "services.crm_writer", env, port)
        if ready:
            await writer.wait_until_ready()
        return writer

    async def post(self, body: dict[str, Any], request_id: str | None = None) -> str:
        """Post a signed webhook to ingest; the event id it accepted."""
        url = f"{self.ingest.base_url}/webhooks/clicksign"
        status, answer = await post_webhook(url, body, WEBHOOK_SECRET, self.http, request_id)
        assert status == 202, answer
        event_id: str = answer["event_id"]
        return event_id

    async def get(self, service: ServiceProcess, path: str) -> tuple[int, Any]:
        async with self.http.get(f"{service.base_url}{path}") as response:
            return response.status, await response.json()

    async def settled(
        self,
        writer: ServiceProcess,
        event_id: str,
        reached: Callable[[dict[str, Any]], bool] = lambda record: record["status"] == "done",
        timeout: float = WAIT_SECONDS,
    ) -> dict[str, Any]:
        """The event's history record once ``reached`` holds (by default: status done)."""
        found: dict[str, Any] = {}

        async def check() -> bool:
            status, record = await self.get(writer, f"/events/{event_id}")
            found.update(record if status == 200 else {})
            return status == 200 and reached(record)

        await wait_until(check, f"event {event_id} to settle; last seen: {found}", timeout)
        return found

    async def all_done(
        self, writer: ServiceProcess, event_ids: Iterable[str], timeout: float = WAIT_SECONDS
    ) -> dict[str, dict[str, Any]]:
        return {
            event_id: await self.settled(writer, event_id, timeout=timeout)
            for event_id in dict.fromkeys(event_ids)
        }

    def linked_emails(self, deal_id: str) -> list[str]:
        return sorted(email_of(contact) for contact in self.rd.state.contacts_of_deal(deal_id))

    def contacts_per_email(self) -> Counter[str]:
        return Counter(email_of(contact) for contact in self.rd.state.contacts)


@pytest_asyncio.fixture
async def stack(
    amqp_url: str,
    service_topology: Topology,
    rd: SandboxServer,
    processes: ProcessGroup,
    http: aiohttp.ClientSession,
    ingest: ServiceProcess,
) -> Stack:
    return Stack(amqp_url, service_topology, rd, processes, http, ingest)


def email_of(contact: Contact) -> str:
    (email,) = contact.emails
    return email.email.lower()


def emails(signers: Iterable[SampleSigner]) -> list[str]:
    return sorted(signer.email.lower() for signer in signers)


def sign_webhooks(
    signers: list[SampleSigner], *, document_key: str, at: datetime, **options: Any
) -> list[dict[str, Any]]:
    """One ``sign`` webhook per signer of the document, all at the same moment."""
    return [
        build_webhook(
            "sign",
            document_key=document_key,
            signers=signers,
            signer_index=index,
            occurred_at=at,
            **options,
        )
        for index in range(len(signers))
    ]


def calls_to(record: dict[str, Any], method: str, path: str) -> list[dict[str, Any]]:
    return [
        call for call in record["rd_calls"] if call["method"] == method and call["path"] == path
    ]


# -- one webhook, one deal, its history -----------------------------------------------------------


@pytest.mark.parametrize(
    ("store_url", "token"),
    [("sqlite", None), ("postgres", SANDBOX_TOKEN)],
    indirect=["store_url"],
    ids=["sqlite-sandbox-mode", "postgres-token"],
)
async def test_signed_webhook_becomes_a_deal_with_its_history(
    stack: Stack, store_url: str, token: str | None
) -> None:
    writer = await stack.start_crm_writer(store_url, token=token)
    signer = make_signers(1, seed=1)[0]
    body = build_webhook("sign", signers=[signer])
    document_key = body["document"]["key"]

    event_id = await stack.post(body)
    record = await stack.settled(writer, event_id)

    (deal,) = stack.rd.state.deals
    assert deal.stage_id == stack.stage_id
    assert deal.name == f"{body['document']['filename']} - {signer.name}"
    assert stack.linked_emails(deal.id) == [signer.email.lower()]
    assert ("rd.sandbox_mode" in writer.events()) == (token is None)
    assert (record["status"], record["outcome"], record["deal_id"]) == ("done", "created", deal.id)
    # Stored without signing links, IP and location (docs/privacy.md); the rest as it came.
    assert record["payload"]["raw"] == stored_payload(parse_clicksign_webhook(encode(body)))["raw"]
    assert all(call.keys() >= HISTORY_CALL_FIELDS for call in record["rd_calls"])
    (create,) = calls_to(record, "POST", "/deals")
    assert (
        create["request"]["deal"] | {"name": deal.name, "deal_stage_id": stack.stage_id}
        == (create["request"]["deal"])
    )
    assert (create["status"], create["response"]["_id"]) == (200, deal.id)
    (new_contact,) = calls_to(record, "POST", "/contacts")
    assert new_contact["request"]["contact"]["emails"] == [{"email": signer.email.lower()}]
    assert new_contact["request"]["contact"]["deal_ids"] == [deal.id]
    assert all("token" not in call["query"] for call in record["rd_calls"])
    assert SANDBOX_TOKEN not in orjson.dumps(record).decode()

    status, listed = await stack.get(writer, f"/events?status=done&document_key={document_key}")
    assert status == 200
    assert [event["event_id"] for event in listed["events"]] == [event_id]
    status, _ = await stack.get(writer, "/events/no-such-event")
    assert status == 404
    status, _ = await stack.get(writer, "/readyz")
    assert status == 200


async def test_thin_auto_close_through_both_services_is_completed_from_clicksign(
    stack: Stack, sqlite_store_url: str
) -> None:
    writer = await stack.start_crm_writer(
        sqlite_store_url,
        CLICKSIGN_ACCESS_TOKEN=stack.rd.clicksign_token,
        CLICKSIGN_API_BASE_URL=stack.rd.clicksign_url,
    )
    signers = make_signers(2, seed=7)
    body = build_webhook("auto_close", signers=signers, filename="Aditivo 3.pdf")
    stack.rd.clicksign.state.register(body["document"])
    sent = thin(body)  # "signers": [], no filename, no path: as real finalisations arrive

    record = await stack.settled(writer, await stack.post(sent))

    (deal,) = stack.rd.state.deals
    assert deal.name == f"Aditivo 3.pdf - {signers[0].name}"
    assert stack.linked_emails(deal.id) == emails(signers)
    # Stored without signing links, IP and location (docs/privacy.md); the rest as it came.
    assert record["payload"]["raw"] == stored_payload(parse_clicksign_webhook(encode(sent)))["raw"]
    assert [call["api"] for call in record["rd_calls"] if "api" in call] == ["clicksign"]
    assert "completed from Clicksign's API 1.0" in record["note"]
    assert stack.rd.clicksign_token not in str(record)


async def test_three_signers_at_once_then_closing_make_one_deal_with_three_contacts(
    stack: Stack, postgres_store_url: str
) -> None:
    writer = await stack.start_crm_writer(postgres_store_url)
    signers, key, now = make_signers(3, seed=2), str(uuid.uuid4()), datetime.now(BRASILIA)

    signed = await asyncio.gather(
        *(stack.post(body) for body in sign_webhooks(signers, document_key=key, at=now))
    )
    closing = [
        await stack.post(
            build_webhook(name, document_key=key, signers=signers, occurred_at=now + seconds)
        )
        for name, seconds in (
            ("auto_close", timedelta(seconds=1)),
            ("document_closed", timedelta(seconds=2)),
        )
    ]
    records = await stack.all_done(writer, [*signed, *closing])

    assert len(records) == 5
    (deal,) = stack.rd.state.deals
    assert stack.linked_emails(deal.id) == emails(signers)
    assert sorted(stack.contacts_per_email().elements()) == emails(signers)
    assert {record["deal_id"] for record in records.values()} == {deal.id}
    assert [record["outcome"] for record in records.values()].count("created") == 1


async def test_the_same_webhook_five_times_makes_one_deal(
    stack: Stack, sqlite_store_url: str
) -> None:
    writer = await stack.start_crm_writer(sqlite_store_url)
    body = build_webhook("sign", signers=make_signers(1, seed=3))

    event_ids = {await stack.post(body) for _ in range(5)}
    (event_id,) = event_ids
    record = await stack.settled(
        writer, event_id, lambda record: record["status"] == "done" and record["duplicates"] >= 4
    )

    assert len(stack.rd.state.deals) == 1
    assert (record["attempts"], record["duplicates"]) == (1, 4)
    await wait_until(lambda: writer.events().count("event.duplicate") == 4, "4 duplicate lines")


async def test_signer_already_in_rd_is_linked_and_not_created_again(
    stack: Stack, sqlite_store_url: str
) -> None:
    signer = make_signers(1, seed=4)[0]
    existing = await create_rd_contact(stack, signer)
    writer = await stack.start_crm_writer(sqlite_store_url)

    record = await stack.settled(writer, await stack.post(build_webhook("sign", signers=[signer])))

    (deal,) = stack.rd.state.deals
    assert [contact.id for contact in stack.rd.state.contacts_of_deal(deal.id)] == [existing]
    assert [contact.id for contact in stack.rd.state.contacts] == [existing]
    assert calls_to(record, "POST", "/contacts") == []


async def create_rd_contact(stack: Stack, signer: SampleSigner) -> str:
    """The signer as someone already created them in RD, through RD's API."""
    body = {"contact": {"name": signer.name, "emails": [{"email": signer.email}]}}
    async with stack.http.post(
        f"{stack.rd.url}/contacts", params={"token": SANDBOX_TOKEN}, json=body
    ) as response:
        assert response.status == 200, await response.text()
        contact_id: str = (await response.json())["_id"]
        return contact_id


# -- crashes, replicas, shutdown ------------------------------------------------------------------


async def test_crm_writer_killed_after_rd_created_the_deal_leaves_exactly_one_deal(
    stack: Stack, store_url: str
) -> None:
    first = await stack.start_crm_writer(store_url, RDSTATION_TIMEOUT_SECONDS="5")
    stack.rd.faults.hang_next(1, seconds=60, method="POST", path_prefix="/deals", completes=True)
    signer = make_signers(1, seed=5)[0]
    event_id = await stack.post(build_webhook("sign", signers=[signer]))
    await wait_until(lambda: len(stack.rd.state.deals) == 1, "RD to create the deal")

    assert await first.kill() == -signal.SIGKILL
    told = [line["event"] for line in first.lines_about(event_id)]
    assert "event.consumed" in told
    assert not {"deal.created", "event.retry_scheduled"} & set(told), "killed inside the window"
    second = await stack.start_crm_writer(store_url)
    record = await stack.settled(second, event_id, timeout=AFTER_A_CRASH_SECONDS)

    (deal,) = stack.rd.state.deals
    assert (record["deal_id"], record["outcome"], record["attempts"]) == (deal.id, "created", 2)
    assert calls_to(record, "POST", "/deals") == []
    assert "deal.recovered" in [line["event"] for line in second.lines_about(event_id)]
    assert stack.linked_emails(deal.id) == [signer.email.lower()]


async def test_two_crm_writers_on_one_queue_make_one_deal_per_document(
    stack: Stack, store_url: str
) -> None:
    writers = [await stack.start_crm_writer(store_url, ready=False) for _ in range(2)]
    for writer in writers:
        await writer.wait_until_ready()
    # One person signs every document (the company's representative) next to two others.
    representative = make_signers(1, seed=60)[0]
    documents = {
        str(uuid.uuid4()): [representative, *make_signers(2, seed=61 + number)]
        for number in range(4)
    }
    now = datetime.now(BRASILIA)
    bodies = {
        key: sign_webhooks(signers, document_key=key, at=now, filename=f"Contrato {number}.pdf")
        for number, (key, signers) in enumerate(documents.items())
    }

    posted = await asyncio.gather(
        *(stack.post(body) for batch in zip(*bodies.values(), strict=True) for body in batch)
    )
    records = await stack.all_done(writers[0], posted)

    assert len(records) == 12
    assert len(stack.rd.state.deals) == len(documents)
    for key, signers in documents.items():
        deal_ids = {r["deal_id"] for r in records.values() if r["document_key"] == key}
        (deal_id,) = deal_ids
        assert stack.linked_emails(deal_id) == emails(signers)
    assert set(stack.contacts_per_email().values()) == {1}
    assert len(stack.rd.state.contacts) == 1 + 2 * len(documents)
    for writer in writers:
        await writer.wait_for_log("event.processed")  # both replicas took events


async def test_sigterm_during_a_burst_then_restart_does_every_event_exactly_once(
    stack: Stack, store_url: str
) -> None:
    stack.rd.faults.set_latency(100)  # keeps the burst in flight when SIGTERM arrives
    first = await stack.start_crm_writer(store_url)
    now = datetime.now(BRASILIA)
    documents = {str(uuid.uuid4()): make_signers(4, seed=90 + number) for number in range(5)}
    posted = await asyncio.gather(
        *(
            stack.post(body)
            for key, signers in documents.items()
            for body in sign_webhooks(signers, document_key=key, at=now)
        )
    )
    await first.wait_for_log("event.processed")

    first.process.send_signal(signal.SIGTERM)
    # run_app's own shutdown, then the consumer's drain: each bounded by the shutdown timeout.
    assert await first.wait_for_exit(2 * SHUTDOWN_SECONDS + 5) == 0
    assert in_order(first.events(), ("consumer.draining", "consumer.stopped")), "mid-burst"
    processed_before = first.events().count("event.processed")
    assert processed_before < len(posted), "the restart should have work left to do"
    stack.rd.faults.set_latency(0)
    second = await stack.start_crm_writer(store_url)
    records = await stack.all_done(second, posted)

    assert len(stack.rd.state.deals) == len(documents)
    for key, signers in documents.items():
        mine = [r for r in records.values() if r["document_key"] == key]
        (deal_id,) = {r["deal_id"] for r in mine}
        assert [r["outcome"] for r in mine].count("created") == 1
        assert stack.linked_emails(deal_id) == emails(signers)
    assert set(stack.contacts_per_email().values()) == {1}
    assert await second.stop() == 0  # all of its output read
    processed = Counter(
        line["event_id"]
        for writer in (first, second)
        for line in writer.json_lines()
        if line["event"] == "event.processed"
    )
    assert processed == Counter(set(posted)), "every event processed once, none twice"


# -- logs -----------------------------------------------------------------------------------------


async def test_logs_of_both_services_tell_one_events_story_in_order(
    stack: Stack, sqlite_store_url: str
) -> None:
    writer = await stack.start_crm_writer(sqlite_store_url, token=SANDBOX_TOKEN)
    body = build_webhook("sign", signers=make_signers(1, seed=7))

    event_id = await stack.post(body, request_id="e2e-story-7")
    await stack.settled(writer, event_id)
    assert await writer.stop() == 0
    assert await stack.ingest.stop() == 0

    for service in (stack.ingest, writer):
        assert log_problems(service, secrets=[WEBHOOK_SECRET, SANDBOX_TOKEN]) == []
    ingest_story = [line["event"] for line in stack.ingest.lines_about(event_id)]
    writer_story = [line["event"] for line in writer.lines_about(event_id)]
    assert in_order(ingest_story, STORY[:1])
    assert in_order(writer_story, STORY[1:])
    told = sorted(
        [*stack.ingest.lines_about(event_id), *writer.lines_about(event_id)],
        key=lambda line: str(line["timestamp"]),
    )
    # ingest logs event.published once the broker confirmed, which can come a hair after
    # crm_writer already received the message: the merged story is ordered up to that.
    merged = [line["event"] for line in told if line["event"] in STORY]
    assert sorted(merged) == sorted(STORY)
    assert in_order(merged, STORY[1:])
    assert {(line["correlation_id"], line["document_key"]) for line in told} == {
        ("e2e-story-7", body["document"]["key"])
    }


def in_order(told: list[str], expected: Iterable[str]) -> bool:
    """Whether ``expected`` appears in ``told`` in this order (other lines may come between)."""
    remaining = iter(told)
    return all(name in remaining for name in expected)


# -- start-up errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "begins", "mentions"),
    [
        (
            {"RDSTATION_CRM_TOKEN": SANDBOX_TOKEN},
            "RDSTATION_DEAL_STAGE_ID is required with RDSTATION_CRM_TOKEN",
            [],
        ),
        (
            {"DEAL_TITLE_TEMPLATE": "{document.filenme}"},
            "DEAL_TITLE_TEMPLATE unknown placeholder {document.filenme}",
            [f"{{{placeholder}}}" for placeholder in PLACEHOLDERS],
        ),
    ],
    ids=["token-without-stage", "unknown-placeholder"],
)
async def test_bad_configuration_exits_2_with_one_line_naming_it(
    processes: ProcessGroup,
    amqp_url: str,
    service_topology: Topology,
    sqlite_store_url: str,
    variables: dict[str, str],
    begins: str,
    mentions: list[str],
) -> None:
    port = free_port()
    env = crm_writer_env(
        amqp_url=amqp_url,
        topology=service_topology,
        port=port,
        store_url=sqlite_store_url,
        rd_url="http://127.0.0.1:9/api/v1",
        **variables,
    )
    writer = await processes.start("crm_writer", "services.crm_writer", env, port)

    assert await writer.wait_for_exit(START_SECONDS) == 2
    (line,) = writer.stderr_lines
    assert line.startswith(f"crm_writer: invalid configuration: {begins}"), line
    assert all(text in line for text in mentions), line
    assert writer.stdout_lines == []


@pytest.mark.parametrize(
    ("token", "stage", "named"),
    [
        ("not-a-token-rd-knows-3f9a", None, "RDSTATION_CRM_TOKEN"),
        (SANDBOX_TOKEN, "5f0000000000000000000000", "RDSTATION_DEAL_STAGE_ID"),
    ],
    ids=["refused-token", "unknown-stage"],
)
async def test_rd_refusing_the_configuration_is_fatal_at_start(
    stack: Stack, sqlite_store_url: str, token: str, stage: str | None, named: str
) -> None:
    port, env = stack.crm_writer_env(sqlite_store_url, token=token)
    if stage is not None:
        env["RDSTATION_DEAL_STAGE_ID"] = stage
    writer = await stack.processes.start("crm_writer", "services.crm_writer", env, port)

    assert await writer.wait_for_exit(START_SECONDS) not in (0, None)
    (fatal,) = [line for line in writer.json_lines() if line["event"] == "service.fatal"]
    assert named in fatal["error"]
    if stage is not None:
        assert fatal["error"].endswith("(`signdeal rd stages` lists them)")
    assert fatal["level"] == "error"
    assert token not in writer.output()
