"""Completing a thin webhook from Clicksign's API before its deal is planned.

Real webhooks can be thinner than the documentation's: a production ``auto_close`` with
``"signers": []``, finalisations without ``filename`` or ``path``, a ``sign`` whose signer has no
e-mail (``docs/clicksign.md``, ``tests/fixtures/clicksign``). Such an event would make a deal
titled with the document key and nobody linked. `completion_needed` says whether an event is
thin (a pure decision), `merge_document` fills it from the document Clicksign's API returns
(pure too: what the webhook carried always wins, ``raw`` stays what left Clicksign), and
`complete_event` runs the two around the one API call.
"""

from __future__ import annotations

from typing import Any

from services.crm_writer.clicksign import ClicksignClient, ClicksignDocument, ClicksignNotFound
from shared.event_kinds import Links
from shared.events import Document, SignedDocumentEvent, Signer
from shared.logging import get_logger

_DOCUMENT_FIELDS = (
    "filename", "path", "status", "uploaded_at", "updated_at", "finished_at", "deadline_at",
    "metadata", "template",
)  # fmt: skip
_SIGNER_FIELDS = (
    "key", "list_key", "name", "email", "phone_number", "documentation", "birthday", "sign_as",
)  # fmt: skip

log = get_logger()


def completion_needed(event: SignedDocumentEvent) -> str | None:
    """Why the event needs Clicksign's API, or None when the webhook carried enough."""
    reasons = []
    # After an event that finishes the document, its every signer belongs on the deal.
    if event.kind.finishes and not event.signers:
        reasons.append("a finalisation without signers")
    if not event.document.filename and not event.document.path:
        reasons.append("no file name")
    if _links_its_signer(event) and (event.signer is None or not event.signer.email):
        reasons.append("a signer without e-mail")
    return "; ".join(reasons) or None


def merge_document(event: SignedDocumentEvent, document: ClicksignDocument) -> SignedDocumentEvent:
    """``event`` with what it lacked taken from ``document``; nothing it carried is replaced."""
    updates: dict[str, Any] = {}
    filled = _missing_fields(event.document, document, _DOCUMENT_FIELDS)
    if filled:
        updates["document"] = event.document.model_copy(update=filled)
    if not event.signers and document.signers:
        updates["signers"] = list(document.signers)
    if _links_its_signer(event):
        signer = completed_signer(event.signer, document.signers)
        if signer is not event.signer:
            updates["signer"] = signer
    return event.model_copy(update=updates) if updates else event


def completed_signer(signer: Signer | None, known: tuple[Signer, ...]) -> Signer | None:
    """A ``sign``'s signer without e-mail, completed from the document's signer with the same
    key or list key; unchanged when it has an e-mail or nobody matches."""
    if signer is None or signer.email:
        return signer
    match = next((candidate for candidate in known if _same_signer(signer, candidate)), None)
    if match is None:
        return signer
    filled = _missing_fields(signer, match, _SIGNER_FIELDS)
    return signer.model_copy(update=filled) if filled else signer


async def complete_event(
    event: SignedDocumentEvent, clicksign: ClicksignClient | None
) -> tuple[SignedDocumentEvent, str | None]:
    """The event, completed from Clicksign's API when it is thin, and a note for its history."""
    reason = completion_needed(event)
    if reason is None:
        return event, None
    if clicksign is None:
        return event, f"not completed from Clicksign ({reason}): CLICKSIGN_ACCESS_TOKEN is not set"
    try:
        document = await clicksign.fetch_document(
            event.document_key, path=event.document.path, occurred_at=event.occurred_at
        )
    except ClicksignNotFound as exc:
        log.warning("clicksign.document_not_found", reason=reason, error=exc.message)
        return event, (
            f"Clicksign's API does not know this document ({exc.message}); "
            "went on with what the webhook carried"
        )
    completed = merge_document(event, document)
    log.info(
        "clicksign.event_completed", reason=reason, api=document.api, signers=len(completed.signers)
    )
    return completed, f"completed from Clicksign's API {document.api} ({reason})"


def _links_its_signer(event: SignedDocumentEvent) -> bool:
    return event.kind.links is Links.THE_SIGNER


def _same_signer(signer: Signer, candidate: Signer) -> bool:
    return bool(
        (signer.key and signer.key == candidate.key)
        or (signer.list_key and signer.list_key == candidate.list_key)
    )


def _missing_fields(
    current: Signer | Document, source: object, names: tuple[str, ...]
) -> dict[str, Any]:
    """Fields ``current`` has empty and ``source`` has filled (fields ``current`` does not know,
    such as a newer schema's, are left out)."""
    known = type(current).model_fields
    return {
        name: getattr(source, name)
        for name in names
        if name in known
        and not getattr(current, name, None)
        and getattr(source, name, None) not in (None, "", [], {}, ())
    }
