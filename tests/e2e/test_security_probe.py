"""The security probe's fast batches (bench/hostile_inputs.py) against ``python -m
services.ingest``: every bad signature, broken body, oversized body, header and path abuse,
ambiguous framing and other method gets the answer docs/security.md promises, and no line ingest
printed holds the webhook secret, which several probes put where ingest logs text (the query
string, X-Request-ID, a signed event's name, the Event header).

Slow clients and a full set of body slots take seconds each: tests/integration/test_ingest_limits.py
covers them, and ``python -m bench.run --only security`` sends them all."""

from __future__ import annotations

import uuid

import orjson
import pytest

from bench.hostile_inputs import Answer, Bodies, exchange_each, ingest_probes
from services.ingest.settings import IngestSettings
from shared.topology import Topology
from tests.service_processes import WEBHOOK_SECRET, ProcessGroup, start_ingest

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES: int = IngestSettings.model_fields["ingest_max_body_bytes"].default


def unexpected(answers: list[Answer]) -> list[str]:
    return [
        f"{a.probe.category}: {a.probe.name}: expected {'/'.join(a.probe.expected)}, got "
        f"{a.outcome}"
        for a in answers
        if not a.as_expected
    ]


async def test_every_fast_hostile_input_gets_the_documented_answer(
    amqp_url: str, service_topology: Topology
) -> None:
    # Not the `processes` fixture: its log check wants a document_key on every line with an
    # event_id, and a well-signed event without a document (acceptance_term_*, several probes)
    # has none by design (docs/logging.md, webhook.ignored).
    group = ProcessGroup()
    try:
        ingest = await start_ingest(group, amqp_url, service_topology)
        await ingest.wait_until_ready()
        host, port = ingest.base_url.removeprefix("http://").rsplit(":", 1)
        answers: list[Answer] = []
        for _, probes in ingest_probes(
            Bodies(uuid.uuid4().hex[:8]), WEBHOOK_SECRET, MAX_BODY_BYTES
        ):
            answers += await exchange_each(host, int(port), probes)
        still_running = ingest.returncode is None
    finally:
        await group.close()

    assert unexpected(answers) == []
    assert still_running
    assert len(answers) > 100  # every batch was sent
    assert WEBHOOK_SECRET not in ingest.output()
    assert all(isinstance(orjson.loads(line), dict) for line in ingest.stdout_lines)
