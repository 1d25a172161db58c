"""Clicksign events for the fault suite: every document gets its own key, file name and signers,
so the effect of each event can be found in the RD sandbox afterwards."""

from __future__ import annotations

import uuid

from sandbox.clicksign import SampleSigner, make_signers
from shared.events import SignedDocumentEvent
from tests.crm_writer.events import clicksign_event


def sign_events(count: int, tag: str, *, seed: int = 200) -> list[SignedDocumentEvent]:
    """One ``sign`` on each of ``count`` documents, each with its own signer."""
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
