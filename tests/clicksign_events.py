"""Clicksign events for the tests: what ingest makes of a realistic webhook, built with the
sandbox's one webhook builder (`sandbox.clicksign.build_webhook`, also behind ``signdeal
send-test`` and the benchmarks).

`clicksign_event` builds and parses one; `event_of` parses a body a test shaped itself (`thin`,
`without_signer_email`, …); `sign_events` and `document_events` make batches whose effects can
be told apart in the RD sandbox afterwards. `minimal_event` is the exception: an event with only
what the store keeps, for store tests that compare a payload with what went in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.clicksign import SampleSigner, build_webhook, encode, make_signers
from shared.events import Document, SignedDocumentEvent, Signer, parse_clicksign_webhook


def clicksign_event(
    event_name: str,
    document_key: str | None = None,
    signers: list[SampleSigner] | None = None,
    signer_index: int = 0,
    *,
    correlation_id: str | None = None,
    received_at: datetime | None = None,
    **options: Any,
) -> SignedDocumentEvent:
    """``event_name`` on one document (a new key unless ``document_key``), signed by one signer
    unless ``signers`` says who; ``options`` go to `build_webhook` (filename, occurred_at…)."""
    body = build_webhook(
        event_name,
        document_key=document_key,
        signers=signers if signers is not None else make_signers(1),
        signer_index=signer_index,
        **options,
    )
    return event_of(body, correlation_id=correlation_id, received_at=received_at)


def event_of(
    body: Mapping[str, Any] | bytes,
    *,
    correlation_id: str | None = None,
    received_at: datetime | None = None,
) -> SignedDocumentEvent:
    """What ingest makes of the webhook ``body``."""
    raw = body if isinstance(body, bytes) else encode(body)
    return parse_clicksign_webhook(raw, correlation_id=correlation_id, received_at=received_at)


def sign_events(count: int, tag: str, *, seed: int = 200) -> list[SignedDocumentEvent]:
    """One ``sign`` on each of ``count`` documents, each with its own signer and file name."""
    events = []
    for index in range(count):
        key = f"doc-{tag}-{index}-{uuid.uuid4().hex[:6]}"
        signers = make_signers(1, seed=seed + index)
        filename = f"Contrato {tag} {index:03d}.pdf"
        events.append(clicksign_event("sign", key, signers, filename=filename))
    return events


def document_events(
    index: int, signers: list[SampleSigner], *, tag: str
) -> list[SignedDocumentEvent]:
    """Every signer's ``sign`` and the ``document_closed`` of one document, in natural order."""
    key = f"doc-{tag}-{index}-{uuid.uuid4().hex[:6]}"
    filename = f"Contrato {tag} {index:03d} {key[-6:]}.pdf"
    signs = [
        clicksign_event("sign", key, signers, signer_index=number, filename=filename)
        for number in range(len(signers))
    ]
    return [*signs, clicksign_event("document_closed", key, signers, filename=filename)]


def minimal_event(
    event_id: str = "evt-1",
    *,
    document_key: str = "doc-1",
    received_at: datetime | None = None,
) -> SignedDocumentEvent:
    """A ``sign`` carrying only what the store keeps (no signing links, IP or location for the
    store to leave out), so a store test can compare its payload with what went in."""
    signer = Signer(key="signer-1", name="Ana Souza", email="ana@example.com")
    raw = {
        "event": {"name": "sign", "data": {"signer": signer.model_dump()}},
        "document": {"key": document_key, "filename": "contrato.pdf"},
    }
    return SignedDocumentEvent(
        event_id=event_id,
        event_name="sign",
        document=Document(key=document_key, filename="contrato.pdf"),
        signer=signer,
        signers=[signer],
        raw=raw,
        correlation_id=f"corr-{event_id}",
        received_at=received_at or datetime.now(UTC),
    )
