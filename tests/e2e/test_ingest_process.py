"""``python -m services.ingest`` as a real process, against the real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from yarl import URL

from sandbox.clicksign import build_webhook, post_webhook
from shared.topology import Topology
from tests.service_processes import (
    BASE_FIELDS,
    EVENT_FIELDS,
    START_SECONDS,
    WEBHOOK_SECRET,
    ProcessGroup,
    ServiceProcess,
    free_port,
    service_env,
)

pytestmark = pytest.mark.e2e
CLICKSIGN_FIXTURES = Path(__file__).parent.parent / "fixtures" / "clicksign"


async def get_one(
    connection: AbstractRobustConnection, queue_name: str
) -> AbstractIncomingMessage | None:
    channel = await connection.channel()
    queue = await channel.declare_queue(queue_name, passive=True)
    return await queue.get(no_ack=True, fail=False)


async def test_signed_sign_webhook_is_published_to_the_work_queue(
    ingest: ServiceProcess,
    service_topology: Topology,
    amqp_connection: AbstractRobustConnection,
) -> None:
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign", build_webhook("sign"), WEBHOOK_SECRET
    )

    assert status == 202
    message = await get_one(amqp_connection, f"{service_topology.prefix}crm_writer.deals")
    assert message is not None
    assert message.message_id == answer["event_id"]
    assert await get_one(amqp_connection, service_topology.work_queue) is None


async def test_a_real_acceptance_term_event_is_answered_200_and_not_published(
    ingest: ServiceProcess,
    service_topology: Topology,
    amqp_connection: AbstractRobustConnection,
) -> None:
    # As Clicksign's WhatsApp "Aceite" sends it: no document (tests/fixtures/clicksign/README.md).
    body = orjson.loads((CLICKSIGN_FIXTURES / "acceptance_term_sent.json").read_bytes())

    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign", body, WEBHOOK_SECRET
    )

    assert (status, answer) == (200, {"status": "ignored"})
    assert await get_one(amqp_connection, service_topology.work_queue) is None


async def test_wrong_signature_is_rejected(
    ingest: ServiceProcess,
    service_topology: Topology,
    amqp_connection: AbstractRobustConnection,
) -> None:
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign", build_webhook("sign"), "not-the-secret"
    )

    assert status == 401
    assert "error" in answer
    assert await get_one(amqp_connection, service_topology.work_queue) is None


async def test_stdout_is_json_lines_with_base_and_event_fields(ingest: ServiceProcess) -> None:
    body = build_webhook("sign", document_key="doc-e2e-logs")
    status, answer = await post_webhook(
        f"{ingest.base_url}/webhooks/clicksign?token=url-secret",
        body,
        WEBHOOK_SECRET,
        request_id="r-e2e",
    )
    assert status == 202

    assert await ingest.stop() == 0
    lines = ingest.json_lines()
    for line in lines:
        assert all(name in line for name in BASE_FIELDS), line
        assert line["service"] == "ingest"
    # At INFO one line per webhook: the answer's own (webhook.received is at DEBUG).
    about_event = [
        line for line in lines if line["event"] in ("webhook.received", "event.published")
    ]
    assert [line["event"] for line in about_event] == ["event.published"]
    for line in about_event:
        assert {name: line[name] for name in EVENT_FIELDS} == {
            "event_id": answer["event_id"],
            "correlation_id": "r-e2e",
            "document_key": "doc-e2e-logs",
        }
    events = [line["event"] for line in lines]
    # No http.request line is certain at INFO: the webhook's is at DEBUG (its own line tells
    # it), and a /readyz probe logs one only if it came before the broker connection.
    for expected in ("service.started", "broker.connected", "service.stopping", "service.stopped"):
        assert expected in events
    started = next(line for line in lines if line["event"] == "service.started")
    assert started["event_loop"] == "uvloop"
    output = "\n".join(ingest.stdout_lines)
    assert WEBHOOK_SECRET not in output
    assert "url-secret" not in output


async def test_a_malformed_request_is_answered_400_and_logged_as_one_warning(
    ingest: ServiceProcess,
) -> None:
    # Any client can send one: a traceback at ERROR per request would be theirs to produce.
    address = URL(ingest.base_url)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(b"POST /webhooks/clicksign HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()

    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0] + b" "
    assert await ingest.stop() == 0
    [line] = [line for line in ingest.json_lines() if line["event"] == "lib.aiohttp.server"]
    assert line["level"] == "warning"
    assert str(line["message"]).startswith("malformed request refused with 400: ")
    assert "exception" not in line


async def test_sigterm_stops_the_service_with_exit_code_0(ingest: ServiceProcess) -> None:
    code = await ingest.stop()

    assert code == 0
    assert ingest.events()[-3:] == ["service.stopping", "broker.closed", "service.stopped"]


async def test_missing_secret_exits_with_one_line_naming_the_variable(
    processes: ProcessGroup, amqp_url: str
) -> None:
    env = service_env(AMQP_URL=amqp_url, INGEST_PORT=str(free_port()))
    service = await processes.start("ingest", "services.ingest", env)

    code = await service.wait_for_exit(START_SECONDS)

    assert code not in (0, None)
    assert len(service.stderr_lines) == 1
    assert "CLICKSIGN_WEBHOOK_SECRET" in service.stderr_lines[0]
    assert service.stdout_lines == []
