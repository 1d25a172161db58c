"""crm_writer's HTTP side in-process: probes and the read-only history API."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from shared.topology import Topology
from tests.consumer_harness import publish_sign

WAIT_SECONDS = 20.0


async def wait_ready(client: TestClient[object, object]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while (await client.get("/readyz")).status != 200:
        assert asyncio.get_running_loop().time() < deadline, "crm_writer never became ready"
        await asyncio.sleep(0.1)


async def test_liveness_answers_at_once(writer_client: TestClient[object, object]) -> None:
    answer = await writer_client.get("/healthz")
    assert answer.status == 200


async def test_readiness_reports_broker_and_store(
    writer_client: TestClient[object, object],
) -> None:
    await wait_ready(writer_client)
    assert await (await writer_client.get("/readyz")).json() == {
        "ready": True,
        "broker": True,
        "store": True,
    }


async def test_history_of_one_event_and_the_list(
    writer_client: TestClient[object, object], amqp_url: str, topology: Topology
) -> None:
    await wait_ready(writer_client)
    event_id = await publish_sign(amqp_url, topology)

    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while (answer := await writer_client.get(f"/events/{event_id}")).status != 200 or (
        await answer.json()
    )["status"] != "done":
        assert asyncio.get_running_loop().time() < deadline, "event never processed"
        await asyncio.sleep(0.1)
    detail = await answer.json()
    assert detail["outcome"] == "created"
    assert detail["payload"]["raw"]["event"]["name"] == "sign"
    assert {call["path"] for call in detail["rd_calls"]} >= {"/deals", "/contacts"}

    listed = await (
        await writer_client.get("/events", params={"status": "done", "limit": "5"})
    ).json()
    assert [event["event_id"] for event in listed["events"]] == [event_id]
    assert "rd_calls" not in listed["events"][0]
    by_document = await writer_client.get(
        "/events", params={"document_key": detail["document_key"]}
    )
    assert len((await by_document.json())["events"]) == 1


async def metric_samples(client: TestClient[object, object]) -> dict[tuple[str, str], float]:
    """``/metrics`` as {(sample name, labels rendered sorted): value}."""
    answer = await client.get("/metrics")
    assert answer.status == 200
    found = {}
    for family in text_string_to_metric_families(await answer.text()):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            found[(sample.name, labels)] = sample.value
    return found


async def test_metrics_show_the_processed_event_rd_calls_and_the_backlog(
    writer_client: TestClient[object, object], amqp_url: str, topology: Topology
) -> None:
    await wait_ready(writer_client)
    event_id = await publish_sign(amqp_url, topology)
    work_queue = ("signdeal_queue_messages", f"queue={topology.prefix}crm_writer.deals,role=work")
    created = ("signdeal_messages_consumed_total", "outcome=created")
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    # The backlog probe measures every 0.2 s; wait for a measurement after the event too.
    while (found := await metric_samples(writer_client)).get(created) != 1 or found.get(
        work_queue
    ) != 0:
        assert asyncio.get_running_loop().time() < deadline, f"{event_id} never counted"
        await asyncio.sleep(0.1)

    assert found[("signdeal_messages_consumed_total", "outcome=parked")] == 0
    assert found[("signdeal_event_processing_duration_seconds_count", "outcome=created")] == 1
    assert (
        found[("signdeal_rd_requests_total", "endpoint=/deals,method=POST,status_class=2xx")] == 1
    )
    # Start-up checks the token and the stage too.
    assert found[
        ("signdeal_rd_requests_total", "endpoint=/token/check,method=GET,status_class=2xx")
    ]
    assert found[("signdeal_rd_rate_limit_wait_seconds_count", "")] >= 3
    prefix = topology.prefix
    assert (
        found[("signdeal_queue_messages", f"queue={prefix}crm_writer.deals.dead,role=parking_lot")]
        == 0
    )
    assert (
        found[("signdeal_queue_messages", f"queue={prefix}crm_writer.deals.retry.5s,role=retry")]
        == 0
    )
    assert 0 <= found[("signdeal_oldest_unprocessed_event_age_seconds", "")] < 60
    assert ("process_resident_memory_bytes", "") in found


async def test_unknown_event_is_404(writer_client: TestClient[object, object]) -> None:
    assert (await writer_client.get("/events/nope")).status == 404


async def test_bad_filters_are_400(writer_client: TestClient[object, object]) -> None:
    assert (await writer_client.get("/events", params={"status": "lost"})).status == 400
    assert (await writer_client.get("/events", params={"since": "yesterday"})).status == 400
    assert (await writer_client.get("/events", params={"limit": "many"})).status == 400
    edge_of_the_calendar = {"since": "9999-12-31T23:59:59-23:59"}
    assert (await writer_client.get("/events", params=edge_of_the_calendar)).status == 400


async def test_since_takes_a_duration_like_the_cli(
    writer_client: TestClient[object, object],
) -> None:
    answer = await writer_client.get("/events", params={"since": "10m"})

    assert answer.status == 200
