"""What the history keeps of an event: the payload minus what nothing reads, and who is in it.

The history's details view (``signdeal history show``, ``GET /events/{id}``) shows the event,
the document and its signers (name, e-mail, CPF, phone), and with ``--full`` the webhook body
(``raw``). Clicksign's body carries more about a signer than that, and nothing in signdeal reads
it; it is dropped before the event is first stored, so the store never holds it (docs/privacy.md):

- ``url``, ``request_signature_key``: a signer's signing link and the key it is made of (a
  credential: whoever has it can open the signing page as that signer);
- ``address``, ``latitude``, ``longitude``: the signer's IP address and geolocation;
- ``downloads`` (API 1.0, webhooks) and ``files`` (API 3.0): the document's download links
  (short-lived pre-signed S3 URLs carrying a security token, useless a day later);
- ``selfie_*``, ``handwritten_*``, ``official_*`` names and hashes: the photos an identity check
  took (selfie, handwritten signature, ID document);
- ``phone_number_hash``, ``federal_data_validation``: a hash of the phone (the phone itself is
  kept) and the result of a check against the Brazilian tax registry;
- ``birthday``: no deal or contact field is made from it.

The message in the broker is not touched: a parked event is replayed from the parking lot, whole.
What was dropped is listed in ``raw["_removed"]`` (paths into ``raw``, ``[]`` for "every item"),
so nobody takes the stored body for all that left Clicksign.

The history page searches by file name and signer e-mail; `search_columns` copies both out of
the stored payload into columns of their own, deleted with the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from shared.events import SignedDocumentEvent

REMOVED_KEY = "_removed"

# Dropped wherever they occur in the webhook body (signers appear in several places: the event's
# signer, the document's signers, the signers of ``add_signer``, the document's past events).
DROPPED_KEYS = frozenset(
    {
        "url",
        "request_signature_key",
        "address",
        "latitude",
        "longitude",
        "downloads",
        "files",
        "selfie_name",
        "selfie_hash",
        "handwritten_name",
        "handwritten_hash",
        "official_document_front_hash",
        "official_document_back_hash",
        "official_front_name",
        "official_back_name",
        "phone_number_hash",
        "federal_data_validation",
        "birthday",
    }
)


def stored_payload(event: SignedDocumentEvent) -> dict[str, Any]:
    """``event`` in its JSON form, as the history stores it: without `DROPPED_KEYS`."""
    payload = event.model_dump(mode="json")
    removed: set[str] = set()
    payload["raw"] = _without_dropped(payload["raw"], "", removed)
    if removed:
        payload["raw"][REMOVED_KEY] = sorted(removed)
    for signer in [payload.get("signer"), *payload.get("signers", [])]:
        if isinstance(signer, dict):
            signer.pop("birthday", None)
    return payload


def stored_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API calls of an attempt as the history stores them: Clicksign's answers (a document
    with its signers, read to complete a thin webhook) lose `DROPPED_KEYS` like the webhook body,
    listed in the answer's ``_removed``; RD's answers are kept as they came."""
    kept = []
    for call in calls:
        if call.get("api") == "clicksign" and isinstance(call.get("response"), dict | list):
            removed: set[str] = set()
            response = _without_dropped(call["response"], "", removed)
            if removed and isinstance(response, dict):
                response[REMOVED_KEY] = sorted(removed)
            call = {**call, "response": response}
        kept.append(call)
    return kept


def _without_dropped(value: Any, path: str, removed: set[str]) -> Any:
    # Recursion is bounded: ingest refuses bodies nested deeper than shared.events.MAX_NESTING.
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in DROPPED_KEYS and item not in (None, "", [], {}):
                removed.add(where)
                continue
            kept[key] = _without_dropped(item, where, removed)
        return kept
    if isinstance(value, list):
        return [_without_dropped(item, f"{path}[]", removed) for item in value]
    return value


def names_signer(payload: dict[str, Any], email: str) -> bool:
    """Whether a stored payload names ``email`` (case-insensitive) as its signer or a signer."""
    return email.strip().lower() in signer_emails(payload)


def mentions_person(
    email: str,
    payload: dict[str, Any],
    calls: list[dict[str, Any]],
    texts: Iterable[str | None] = (),
) -> bool:
    """Whether an event's stored row holds ``email``'s data: the payload names it as a signer,
    or an RD or Clicksign call (a contact's body, a search, Clicksign's answer completing a thin
    webhook, whose payload has no signers) or a note or error mentions it. An e-mail that only
    appears elsewhere in the payload (the account user who uploaded the document) does not
    count: that event is about other people."""
    if names_signer(payload, email):
        return True
    wanted = email.strip().lower()
    if calls and wanted in orjson.dumps(calls).decode().lower():
        return True
    return any(text is not None and wanted in text.lower() for text in texts)


def signer_emails(payload: dict[str, Any]) -> list[str]:
    """The e-mails of the payload's signer and signers, lower-cased, each once, in order."""
    people = [payload.get("signer"), *(payload.get("signers") or [])]
    emails = [
        person["email"].strip().lower()
        for person in people
        if isinstance(person, dict) and isinstance(person.get("email"), str)
    ]
    return list(dict.fromkeys(email for email in emails if email))


# Separates the e-mails in ``search_signers``: no e-mail address holds a line break, so a search
# for one whole address, written between two of them, cannot match a part of another.
SIGNER_SEPARATOR = "\n"


def search_columns(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """What the history searches by, copied out of a stored payload: the document's file name
    lower-cased, and the signers' e-mails each between two `SIGNER_SEPARATOR`s."""
    document = payload.get("document")
    filename = document.get("filename") if isinstance(document, dict) else None
    emails = signer_emails(payload)
    signers = SIGNER_SEPARATOR.join(["", *emails, ""]) if emails else None
    return (filename.lower() if isinstance(filename, str) and filename else None), signers
