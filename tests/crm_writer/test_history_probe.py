"""The security probe's history batches (bench/hostile_inputs.py) against crm_writer's app on
127.0.0.1: with ``CRM_WRITER_API_TOKEN`` nothing but ``Authorization: Bearer <token>`` opens the
history (a token elsewhere, a near-miss, a forwarded header: 401); without one, a loopback client
is answered whatever headers it sends; either way the query and the event id are read safely
(calendar overflow, huge limits, traversal, long ids: 400/404, never 500)."""

from __future__ import annotations

from bench.hostile_inputs import (
    Answer,
    exchange_each,
    history_loopback_probes,
    history_token_probes,
)
from tests.crm_writer.conftest import Client, StartClient

TOKEN = "history-probe-token-0123456789abcdef"


def unexpected(answers: list[Answer]) -> list[str]:
    return [
        f"{a.probe.name}: expected {'/'.join(a.probe.expected)}, got {a.outcome}"
        for a in answers
        if not a.as_expected
    ]


def address(client: Client) -> tuple[str, int]:
    assert client.port is not None
    return "127.0.0.1", client.port


async def test_with_a_token_every_history_probe_gets_the_documented_answer(
    start_client: StartClient,
) -> None:
    client = await start_client(crm_writer_api_token=TOKEN)

    answers = await exchange_each(*address(client), history_token_probes(TOKEN, None))

    assert unexpected(answers) == []


async def test_without_a_token_every_loopback_probe_gets_the_documented_answer(
    start_client: StartClient,
) -> None:
    client = await start_client()

    answers = await exchange_each(*address(client), history_loopback_probes(None, "127.0.0.2"))

    assert unexpected(answers) == []
