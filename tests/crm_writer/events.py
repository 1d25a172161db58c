"""Clicksign events for crm_writer tests, built from realistic webhook bodies."""

from __future__ import annotations

from typing import Any

from sandbox.clicksign import SampleSigner, build_webhook, encode, make_signers
from shared.events import SignedDocumentEvent, parse_clicksign_webhook


def clicksign_event(
    event_name: str,
    document_key: str,
    signers: list[SampleSigner] | None = None,
    signer_index: int = 0,
    **options: Any,
) -> SignedDocumentEvent:
    body = build_webhook(
        event_name,
        document_key=document_key,
        signers=signers if signers is not None else make_signers(1),
        signer_index=signer_index,
        **options,
    )
    return parse_clicksign_webhook(encode(body))
