"""Thin Clicksign webhooks through the deal pipeline, completed from the sandbox's Clicksign API:
one deal titled with the real file name, every signer linked, the Clicksign calls in the history;
Clicksign's failures as retryable or parking errors, an unknown document as a note."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from sandbox.clicksign import build_webhook, make_signers, thin, without_signer_email
from sandbox.clicksign_api import API_1, API_3
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.api_call import ApiCall
from services.crm_writer.clicksign import (
    ClicksignClient,
    ClicksignRateLimited,
    ClicksignUnauthorized,
    ClicksignUnavailable,
)
from services.crm_writer.consumer import DealConsumer
from services.crm_writer.deal_plan import DealSettings
from services.crm_writer.pacing import RequestPacer
from services.crm_writer.pipeline import DealPipeline
from services.crm_writer.rdstation import RdStationClient
from services.crm_writer.retry_policy import Park, Retry, RetryPolicy
from services.crm_writer.store import EventQuery, EventStatus, Outcome, Store
from shared.event_kinds import DEFAULT_TRIGGER_EVENTS
from shared.events import parse_clicksign_webhook, parse_timestamp, read_clicksign_webhook
from shared.topology import Topology
from tests.clicksign_events import event_of
from tests.consumer_harness import ConsumerFactory, all_reach, publish_event

FILENAME = "Contrato de Locação 2024.pdf"


@pytest.fixture
def completing_pipeline(
    sqlite_store: Store,
    rd_client: RdStationClient,
    deal_settings: DealSettings,
    clicksign_client: ClicksignClient,
) -> DealPipeline:
    return DealPipeline(sqlite_store, rd_client, deal_settings, clicksign=clicksign_client)


def full_body(event_name: str = "auto_close", signers: int = 3, **options: Any) -> dict[str, Any]:
    return build_webhook(
        event_name,
        document_key=str(uuid.uuid4()),
        filename=FILENAME,
        signers=make_signers(signers),
        **options,
    )


def known_to_clicksign(
    rd: SandboxServer, body: dict[str, Any], apis: tuple[str, ...] = (API_1,)
) -> None:
    rd.clicksign.state.register(body["document"], apis=apis)


def contact_emails(rd: SandboxServer, deal_id: str) -> list[str]:
    return sorted(
        email.email.lower()
        for contact in rd.state.contacts_of_deal(deal_id)
        for email in contact.emails
    )


def clicksign_calls(calls: list[ApiCall]) -> list[dict[str, Any]]:
    return [call.as_history() for call in calls if call.api == "clicksign"]


@pytest.mark.parametrize(
    ("apis", "path_in_clicksign"),
    [((API_1,), None), ((API_3,), "/Locação Rua A/Contrato de Locação 2024.pdf")],
    ids=["api_1", "api_3"],
)
async def test_thin_auto_close_becomes_one_deal_with_the_real_file_name_and_every_signer(
    completing_pipeline: DealPipeline,
    rd: SandboxServer,
    apis: tuple[str, ...],
    path_in_clicksign: str | None,
) -> None:
    body = full_body(path=path_in_clicksign)
    known_to_clicksign(rd, body, apis)
    thin_event = event_of(thin(body))
    assert thin_event.signers == [] and thin_event.document.filename is None
    calls: list[ApiCall] = []

    result = await completing_pipeline.process(thin_event, calls)

    assert result.outcome is Outcome.CREATED
    [deal] = rd.state.deals
    first_signer = body["document"]["signers"][0]["name"]
    assert deal.name == f"{FILENAME} - {first_signer}"
    expected = sorted(s["email"].lower() for s in body["document"]["signers"])
    assert contact_emails(rd, deal.id) == expected
    assert len(rd.state.contacts) == 3
    history = clicksign_calls(calls)
    assert history and history[-1]["status"] == 200
    assert [call["status"] for call in history][:1] == [200 if apis == (API_1,) else 404]
    assert result.note is not None and "completed from Clicksign's API" in result.note


async def test_a_second_thin_finalisation_adds_no_deal_and_no_contact(
    completing_pipeline: DealPipeline, rd: SandboxServer
) -> None:
    body = full_body()
    known_to_clicksign(rd, body)
    await completing_pipeline.process(event_of(thin(body)), [])
    closed = full_body("document_closed")
    closed["document"] = body["document"]

    result = await completing_pipeline.process(event_of(thin(closed)), [])

    assert result.outcome is Outcome.UPDATED
    assert len(rd.state.deals) == 1
    assert len(rd.state.contacts) == 3


async def test_a_sign_without_email_links_the_signer_clicksign_knows(
    completing_pipeline: DealPipeline, rd: SandboxServer
) -> None:
    body = full_body("sign", signer_index=1)
    known_to_clicksign(rd, body)
    calls: list[ApiCall] = []

    result = await completing_pipeline.process(event_of(without_signer_email(body)), calls)

    [deal] = rd.state.deals
    assert result.outcome is Outcome.CREATED
    assert contact_emails(rd, deal.id) == [body["event"]["data"]["signer"]["email"].lower()]
    assert len(clicksign_calls(calls)) == 1


async def test_a_full_webhook_makes_no_clicksign_call(
    completing_pipeline: DealPipeline, rd: SandboxServer
) -> None:
    calls: list[ApiCall] = []

    await completing_pipeline.process(event_of(full_body()), calls)

    assert clicksign_calls(calls) == []
    assert rd.clicksign.requests.records == []


async def test_a_document_clicksign_does_not_know_goes_on_with_a_note(
    completing_pipeline: DealPipeline, rd: SandboxServer
) -> None:
    body = full_body()
    calls: list[ApiCall] = []

    result = await completing_pipeline.process(event_of(thin(body)), calls)

    assert result.outcome is Outcome.CREATED
    [deal] = rd.state.deals
    assert deal.name == f"Documento {body['document']['key']}"
    assert result.note is not None
    assert "Clicksign's API does not know this document" in result.note
    assert next(call["status"] for call in clicksign_calls(calls)) == 404


async def test_without_a_clicksign_client_the_event_is_written_as_it_came_with_a_note(
    sqlite_store: Store, rd_client: RdStationClient, deal_settings: DealSettings, rd: SandboxServer
) -> None:
    pipeline = DealPipeline(sqlite_store, rd_client, deal_settings)
    body = full_body()
    known_to_clicksign(rd, body)

    result = await pipeline.process(event_of(thin(body)), [])

    [deal] = rd.state.deals
    assert deal.name == f"Documento {body['document']['key']}"
    assert result.note is not None and "CLICKSIGN_ACCESS_TOKEN is not set" in result.note
    assert rd.clicksign.requests.records == []


@pytest.mark.parametrize("status", [500, 503])
async def test_clicksign_down_is_a_retryable_error_and_nothing_is_written(
    completing_pipeline: DealPipeline, rd: SandboxServer, status: int
) -> None:
    body = full_body()
    known_to_clicksign(rd, body)
    rd.clicksign.faults.fail_next(1, status)
    calls: list[ApiCall] = []

    with pytest.raises(ClicksignUnavailable) as raised:
        await completing_pipeline.process(event_of(thin(body)), calls)

    assert raised.value.retryable is True
    assert rd.state.deals == []
    assert clicksign_calls(calls)[0]["status"] == status


async def test_clicksign_429_past_the_patience_is_a_retryable_error_with_its_wait(
    completing_pipeline: DealPipeline, rd: SandboxServer
) -> None:
    body = full_body()
    known_to_clicksign(rd, body)
    rd.clicksign.faults.fail_next(1, 429, retry_after_seconds=120)

    with pytest.raises(ClicksignRateLimited) as raised:
        await completing_pipeline.process(event_of(thin(body)), [])

    assert raised.value.retryable is True
    assert raised.value.retry_after is not None and 118 <= raised.value.retry_after <= 120
    assert rd.state.deals == []


async def test_a_refused_clicksign_token_is_not_retryable_and_names_the_token(
    sqlite_store: Store, rd_client: RdStationClient, deal_settings: DealSettings, rd: SandboxServer
) -> None:
    refused = ClicksignClient(
        rd_client.session, rd.clicksign_url, "revoked-token", RequestPacer(60_000, 10.0)
    )
    pipeline = DealPipeline(sqlite_store, rd_client, deal_settings, clicksign=refused)
    body = full_body()
    known_to_clicksign(rd, body)

    with pytest.raises(ClicksignUnauthorized) as raised:
        await pipeline.process(event_of(thin(body)), [])

    assert raised.value.retryable is False
    assert str(raised.value).startswith("Clicksign token refused")
    assert rd.state.deals == []


# -- what retry_policy makes of Clicksign's errors ------------------------------------------------

POLICY = RetryPolicy(delays=(5, 30, 120, 600), max_attempts=8, max_age_seconds=6 * 3600)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_policy_retries_clicksign_being_down() -> None:
    error = ClicksignUnavailable("no answer", status=503, path="/api/v1/documents/k")

    assert isinstance(POLICY.decide(error, 1, NOW, NOW), Retry)


def test_policy_waits_for_clicksigns_budget_after_a_429_without_counting_an_attempt() -> None:
    error = ClicksignRateLimited("Too many requests", retry_after=100, status=429, path="/p")

    decision = POLICY.decide(error, 1, NOW, NOW)

    assert isinstance(decision, Retry) and decision.delay_seconds == 120
    assert decision.counts_as_attempt is False


def test_policy_parks_a_refused_clicksign_token_at_once_with_the_reason() -> None:
    error = ClicksignUnauthorized("Access Token inválido", status=403, path="/api/v1/documents/k")

    decision = POLICY.decide(error, 1, NOW, NOW)

    assert isinstance(decision, Park)
    assert decision.reason.startswith("Clicksign token refused")


# -- the history, through the consumer and the real broker ---------------------------------------


@pytest_asyncio.fixture
async def completing_consumer(
    consumer_factory: ConsumerFactory,
    amqp_connection: AbstractRobustConnection,
    sqlite_store: Store,
    completing_pipeline: DealPipeline,
    channel: AbstractChannel,
) -> DealConsumer:
    return await consumer_factory.start(
        amqp_connection, sqlite_store, prefetch=8, pipeline=completing_pipeline
    )


@pytest.mark.usefixtures("completing_consumer")
async def test_the_history_shows_the_clicksign_calls_next_to_rds(
    channel: AbstractChannel, topology: Topology, sqlite_store: Store, rd: SandboxServer
) -> None:
    body = full_body()
    known_to_clicksign(rd, body)
    event = event_of(thin(body))

    await publish_event(channel, topology, event)

    [record] = await all_reach(sqlite_store, [event.event_id], EventStatus.DONE)
    apis = [call.get("api", "rdstation") for call in record.rd_calls]
    assert apis[0] == "clicksign"
    assert "rdstation" in apis
    assert record.rd_calls[0]["path"] == f"/api/v1/documents/{event.document_key}"
    assert record.note is not None and "completed from Clicksign's API 1.0" in record.note
    assert rd.clicksign_token not in str(record.rd_calls)


FIXTURES = Path(__file__).parents[1] / "fixtures" / "clicksign"
# The fixtures that are triggers by default (docs/clicksign.md says where each comes from).
TRIGGER_FIXTURES = [
    "auto_close_production_signers_empty.json",
    "auto_close_securities_docs_no_filename.json",
    "auto_close_ms_docsigner_no_filename_no_path.json",
    "document_closed_document_as_list.json",
]
REAL_FILENAME = "Contrato Social Revisado.pdf"


@pytest.mark.parametrize("apis", [(API_1,), (API_3,)], ids=["api_1", "api_3"])
@pytest.mark.parametrize("name", TRIGGER_FIXTURES, ids=lambda name: name.removesuffix(".json"))
async def test_every_real_finalisation_written_by_others_becomes_one_deal_with_its_signers(
    completing_pipeline: DealPipeline, rd: SandboxServer, name: str, apis: tuple[str, ...]
) -> None:
    # The webhook exactly as others logged it, read the way ingest reads it; Clicksign's API
    # (the sandbox) knows the whole document: its file name and two signers.
    raw = (FIXTURES / name).read_bytes()
    assert read_clicksign_webhook(raw).event_name in DEFAULT_TRIGGER_EVENTS
    event = parse_clicksign_webhook(raw)
    document = dict(
        orjson.loads(raw)["document"][0]
        if name.startswith("document_closed")
        else orjson.loads(raw)["document"]
    )
    filename = document.get("filename") or REAL_FILENAME
    signers = make_signers(2)
    drawn = build_webhook("auto_close", signers=signers)["document"]["signers"]
    when = parse_timestamp(event.occurred_at)
    assert when is not None
    rd.clicksign.state.register(
        {**document, "filename": filename, "signers": drawn}, apis=apis, modified=when
    )

    result = await completing_pipeline.process(event, [])

    assert result.outcome is Outcome.CREATED
    [deal] = rd.state.deals
    assert deal.name == f"{filename} - {signers[0].name}"
    assert contact_emails(rd, deal.id) == sorted(signer.email.lower() for signer in signers)
    assert len(rd.state.contacts) == 2


async def test_the_history_holds_the_completed_event_so_it_is_found_by_its_signers(
    completing_pipeline: DealPipeline, rd: SandboxServer, sqlite_store: Store
) -> None:
    # The page lists, searches and explains an event by its stored payload; `history forget`
    # erases by it. A thin webhook names nobody: the history must hold what Clicksign answered.
    body = full_body()
    known_to_clicksign(rd, body)
    event = event_of(thin(body))
    await sqlite_store.begin_attempt(event)

    await completing_pipeline.process(event, [])

    record = await sqlite_store.get_event(event.event_id)
    assert record is not None
    assert record.payload["document"]["filename"] == FILENAME
    assert [s["email"] for s in record.payload["signers"]] == [
        s["email"] for s in body["document"]["signers"]
    ]
    assert record.payload["raw"]["document"].get("signers") in (None, [])  # as received
    second_signer = body["document"]["signers"][1]["email"]
    page = await sqlite_store.search_events(EventQuery(signer_email=second_signer))
    assert [found.event_id for found in page] == [event.event_id]
    by_name = await sqlite_store.search_events(EventQuery(document=FILENAME[:8]))
    assert [found.event_id for found in by_name] == [event.event_id]
