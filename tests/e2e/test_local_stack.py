"""``make run`` as an operator lives it: Ctrl-C stops every child within a bound, each service
saying ``service.stopped``, even with crm_writer in the middle of an event; a restart in the middle
of a demo leaves no duplicate and no stuck event; ``make reset`` clears what it kept."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
import pytest
import pytest_asyncio

from sandbox.clicksign import build_webhook, make_signers, post_webhook
from sandbox.process_env import free_port
from shared.topology import Topology
from tests.e2e.local_stack import LocalStack, is_alive, start_local_stack
from tests.service_processes import REPO_ROOT, WEBHOOK_SECRET, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the children"),
]

# ingest's and crm_writer's shutdown timeouts under make run are 3 s, the sandbox's 2 s: what
# stops in order finishes well inside this. The old stack took 25 s and more (crm_writer's own
# drain timeout, after a crash on two signals).
STOP_BOUND_SECONDS = 15.0
DOC_A, DOC_B, DOC_C = (str(uuid.uuid4()) for _ in range(3))
README = REPO_ROOT / "README.md"


@pytest_asyncio.fixture
async def local_stack(
    tmp_path: Path, amqp_url: str, service_topology: Topology
) -> AsyncIterator[LocalStack]:
    started = await start_local_stack(tmp_path, amqp_url, service_topology)
    try:
        yield started
    finally:
        await started.close()


async def test_ctrl_c_stops_every_child_with_crm_writer_mid_event(
    local_stack: LocalStack, http: aiohttp.ClientSession
) -> None:
    await local_stack.wait_until_running()
    assert len(local_stack.children) == 3, local_stack.output()
    # crm_writer's RD call hangs: the event stays in hand until shutdown cancels it.
    hang = {"method": "POST", "path_prefix": "/deals", "hang_seconds": 120}
    async with http.post(
        f"{local_stack.sandbox_url}/__sandbox/faults/fail_next", json=hang
    ) as answer:
        assert answer.status == 200
    body = build_webhook("sign", signers=make_signers(1))
    url = f"{local_stack.ingest_url}/webhooks/clicksign"
    status, _ = await post_webhook(url, body, WEBHOOK_SECRET, http)
    assert status == 202
    await wait_until(lambda: local_stack.said("crm_writer", "event.consumed"), "the event in hand")

    local_stack.interrupt()

    await wait_until(
        lambda: (
            local_stack.process.returncode is not None
            and not any(map(is_alive, local_stack.children))
        ),
        "make run and every child to be gone",
        STOP_BOUND_SECONDS,
    )
    assert await local_stack.wait_for_exit() == 0
    for service in ("ingest", "crm_writer", "rd-sandbox"):
        assert local_stack.said(service, "service.stopped"), f"{service}:\n{local_stack.output()}"
    assert "did not stop within" not in local_stack.output()


async def test_without_rabbitmq_it_says_so_in_one_line_and_starts_nothing(
    tmp_path: Path, amqp_url: str, service_topology: Topology
) -> None:
    port = free_port()
    closed = f"amqp://guest:guest@127.0.0.1:{port}/"
    stack = await start_local_stack(tmp_path, closed, service_topology)
    try:
        async with asyncio.timeout(STOP_BOUND_SECONDS):
            code = await stack.wait_for_exit()
    finally:
        await stack.close()

    assert code == 1
    assert stack.lines == [
        f"make run: AMQP_URL: nothing listens on 127.0.0.1:{port}: is RabbitMQ running? "
        "`rabbitmq-server -detached` (or `docker compose up -d rabbitmq`)"
    ]


# -- a restart in the middle of a demo ----------------------------------------------------------


class Demo:
    """Webhooks posted to a running local stack, and what became of them."""

    def __init__(self, stack: LocalStack, http: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.http = http

    async def sign(self, document_key: str, signer: int = 0) -> str:
        """A ``sign`` by the document's ``signer``-th signer (of two); its event id."""
        body = build_webhook(
            "sign", document_key=document_key, signers=make_signers(2), signer_index=signer
        )
        url = f"{self.stack.ingest_url}/webhooks/clicksign"
        status, answer = await post_webhook(url, body, WEBHOOK_SECRET, self.http)
        assert status == 202, answer
        return str(answer["event_id"])

    async def event(self, event_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.stack.writer_url}/events/{event_id}") as answer:
            return dict(await answer.json()) if answer.status == 200 else {}

    async def done(self, event_id: str) -> dict[str, Any]:
        async def finished() -> bool:
            return (await self.event(event_id)).get("status") == "done"

        await wait_until(finished, f"event {event_id} to be done", 120)
        return await self.event(event_id)

    async def sandbox(self, path: str = "/__sandbox/state") -> dict[str, Any]:
        async with self.http.get(f"{self.stack.sandbox_url}{path}") as answer:
            return dict(await answer.json())

    async def arm(self, fault: dict[str, Any]) -> None:
        url = f"{self.stack.sandbox_url}/__sandbox/faults/fail_next"
        async with self.http.post(url, json=fault) as answer:
            assert answer.status == 200

    async def history(self, status: str) -> list[dict[str, Any]]:
        url = f"{self.stack.writer_url}/events"
        async with self.http.get(url, params={"status": status}) as answer:
            return list((await answer.json())["events"])


async def run_until_interrupted(stack: LocalStack) -> None:
    stack.interrupt()
    async with asyncio.timeout(STOP_BOUND_SECONDS):
        assert await stack.wait_for_exit() == 0


async def test_a_restart_mid_demo_leaves_no_duplicate_and_no_stuck_event(
    tmp_path: Path, amqp_url: str, service_topology: Topology, http: aiohttp.ClientSession
) -> None:
    fast = {"RDSTATION_RATE_LIMIT_PER_MINUTE": "6000"}
    first = await start_local_stack(tmp_path, amqp_url, service_topology, **fast)
    try:
        await first.wait_until_running()
        demo = Demo(first, http)
        signed_a = await demo.done(await demo.sign(DOC_A))
        # RD creates document B's deal, then its answer never comes: make run stops meanwhile.
        await demo.arm(
            {"method": "POST", "path_prefix": "/deals", "hang_seconds": 120, "completes": True}
        )
        cut_short = await demo.sign(DOC_B)
        await wait_until(
            lambda: first.said("crm_writer", "event.consumed"),
            "document B's event in hand",
        )

        async def deal_b_created() -> bool:
            return int((await demo.sandbox())["counts"]["deals"]) == 2

        await wait_until(deal_b_created, "RD to have created document B's deal")
        await run_until_interrupted(first)
    finally:
        await first.close()

    second = await start_local_stack(tmp_path, amqp_url, service_topology, **fast)
    try:
        await second.wait_until_running()
        demo = Demo(second, http)
        recovered = await demo.done(cut_short)
        signed_a_again = await demo.done(await demo.sign(DOC_A, signer=1))
        signed_c = await demo.done(await demo.sign(DOC_C))
        state = await demo.sandbox()
        stuck = [*await demo.history("processing"), *await demo.history("retrying")]
        await run_until_interrupted(second)
    finally:
        await second.close()

    deals = {deal["id"]: deal for deal in state["deals"]}
    assert len(deals) == 3, state["deals"]
    assert recovered["deal_id"] in deals
    assert signed_a_again["deal_id"] == signed_a["deal_id"]
    assert len(deals[signed_a["deal_id"]]["contact_ids"]) == 2
    assert signed_c["deal_id"] not in (signed_a["deal_id"], recovered["deal_id"])
    assert stuck == []
    assert second.said("crm_writer", "deal.recovered")


async def test_make_reset_removes_what_make_run_kept_and_says_so(
    tmp_path: Path, amqp_url: str, service_topology: Topology, http: aiohttp.ClientSession
) -> None:
    stack = await start_local_stack(tmp_path, amqp_url, service_topology)
    try:
        await stack.wait_until_running()
        await Demo(stack, http).done(await Demo(stack, http).sign(DOC_A))
        refused = await reset(stack)
        await run_until_interrupted(stack)
    finally:
        await stack.close()
    # A webhook accepted while crm_writer was down waits in the work queue.
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(b"{}"), routing_key=service_topology.work_queue
        )

    done = await reset(stack)
    again = await reset(stack)

    assert refused.returncode == 1
    assert "make run still runs" in refused.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"removed 1 message(s) from the queue {service_topology.work_queue}",
        "removed data/signdeal.db (the store: history, documents' deals, contacts)",
        "removed data/sandbox-state.json (the sandbox's deals, contacts and documents)",
    ]
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == []
    assert again.stdout.splitlines() == ["nothing to remove"]


async def reset(stack: LocalStack) -> subprocess.CompletedProcess[str]:
    """``make reset`` in the stack's folder, with its environment."""
    env = {**os.environ, **stack.env}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "sandbox.local_stack", "reset"],
        cwd=stack.folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- the README's recipe, on what make run really printed ---------------------------------------


def readme_recipes() -> dict[str, str]:
    """The README's ``jq`` commands under "## Logs", by the files they read."""
    section = README.read_text(encoding="utf-8").split("\n## Logs\n", 1)[1].split("\n## ", 1)[0]
    commands = [line for line in section.splitlines() if line.startswith("jq ")]
    return {
        "make run": next(command for command in commands if " run.log " in command),
        "files": next(command for command in commands if " ingest.log crm_writer.log " in command),
    }


@pytest.mark.skipif(shutil.which("jq") is None, reason="the README's recipe is jq")
async def test_the_readmes_jq_recipe_follows_one_event_in_make_runs_output(
    local_stack: LocalStack, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    await local_stack.wait_until_running()
    demo = Demo(local_stack, http)
    followed = await demo.done(await demo.sign(DOC_A))
    await demo.done(await demo.sign(DOC_A, signer=1))  # another event's lines in between
    await run_until_interrupted(local_stack)
    # Its lines in time order: ingest's and crm_writer's interleaved, banner and the rest left out.
    expected = sorted(
        (line for line in local_stack.json_lines() if line.get("event_id") == followed["event_id"]),
        key=lambda line: str(line["timestamp"]),
    )
    (tmp_path / "run.log").write_text(local_stack.output() + "\n", encoding="utf-8")
    for service in ("ingest", "crm_writer"):
        own = [text for text in local_stack.lines if f'"service":"{service}"' in text]
        (tmp_path / f"{service}.log").write_text("\n".join(own) + "\n", encoding="utf-8")

    for source, command in readme_recipes().items():
        found = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env={**os.environ, "ID": str(followed["event_id"])},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert found.returncode == 0, f"{source}: {found.stderr}"
        lines = [orjson.loads(line) for line in found.stdout.splitlines()]
        assert lines == expected, source
    assert {line["service"] for line in expected} == {"ingest", "crm_writer"}
