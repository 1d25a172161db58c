"""Clicksign's side of the ingest fault tests: send a burst of signed webhooks, note each answer,
and retry the ones that were not accepted, as Clicksign does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sandbox.clicksign import build_webhook, make_signers, post_webhook
from services.crm_writer.store import Store
from shared.events import SignedDocumentEvent
from tests.clicksign_events import event_of
from tests.service_processes import WEBHOOK_SECRET

ACCEPTED = 202
NO_ANSWER = 0  # the connection failed: Clicksign sees no answer and retries


@dataclass
class Webhook:
    body: dict[str, Any]
    event: SignedDocumentEvent
    answers: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return ACCEPTED in self.answers


def make_webhooks(count: int, tag: str) -> list[Webhook]:
    """``sign`` webhooks for ``count`` documents, one signer each, each document its own file."""
    webhooks = []
    for index in range(count):
        body = build_webhook(
            "sign",
            document_key=f"doc-{tag}-{index}-{uuid.uuid4().hex[:6]}",
            signers=make_signers(1, seed=400 + index),
            filename=f"Contrato {tag} {index:03d}.pdf",
        )
        # The event id ingest derives is a function of the body: the test can know it upfront.
        webhooks.append(Webhook(body, event_of(body)))
    return webhooks


async def send(session: aiohttp.ClientSession, base_url: str, webhook: Webhook) -> int:
    """POST one webhook; its status, or `NO_ANSWER`."""
    try:
        status, answer = await post_webhook(
            f"{base_url}/webhooks/clicksign", webhook.body, WEBHOOK_SECRET, session=session
        )
    except (aiohttp.ClientError, TimeoutError):
        status, answer = NO_ANSWER, None
    if status == ACCEPTED:
        assert answer["event_id"] == webhook.event.event_id
    webhook.answers.append(status)
    return status


async def send_burst(
    base_url: str,
    webhooks: list[Webhook],
    *,
    concurrency: int = 8,
    after_each: Callable[[int], object] | None = None,
) -> None:
    """Send every webhook once, ``concurrency`` at a time; ``after_each(answered)`` runs after
    every answer (the test's hook to inject a fault mid-burst)."""
    gate = asyncio.Semaphore(concurrency)
    answered = 0
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(webhook: Webhook) -> None:
            nonlocal answered
            async with gate:
                await send(session, base_url, webhook)
                answered += 1
                if after_each is not None:
                    after_each(answered)

        await asyncio.gather(*(one(webhook) for webhook in webhooks))


async def resend_until_accepted(
    base_url: str, webhooks: list[Webhook], *, timeout: float = 30.0
) -> int:
    """Clicksign retrying every webhook that has not been accepted yet; how many retries."""
    retries = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        while pending := [webhook for webhook in webhooks if not webhook.accepted]:
            if loop.time() > deadline:
                raise AssertionError(f"{len(pending)} webhooks still not accepted")
            for webhook in pending:
                retries += 1
                await send(session, base_url, webhook)
            await asyncio.sleep(0.2)
    return retries


async def duplicates_recorded(store: Store, webhooks: list[Webhook]) -> int:
    """Copies crm_writer found already done: webhooks published twice (a 503 whose publish the
    broker had confirmed after all, then Clicksign's retry) or deliveries repeated."""
    records = [await store.get_event(webhook.event.event_id) for webhook in webhooks]
    return sum(record.duplicates for record in records if record is not None)
