"""The wire event: one Clicksign webhook, normalised into `SignedDocumentEvent`.

Clicksign's API 1.0 and API 3.0 accounts send the same webhook body,
``{"event": {"name", "data", "occurred_at"}, "document": {...}}``. The parser is strict on
what the pipeline needs (``event.name``, ``document.key``) and lenient with everything else:
unknown fields are kept in ``raw`` and optional fields may be missing or null.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1

FINALISATION_EVENTS = frozenset({"auto_close", "close", "document_closed"})


class InvalidClicksignPayload(ValueError):
    """The body is not JSON or does not have the shape of a Clicksign document event."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Signer(_Lenient):
    """A signer as Clicksign describes it, in ``event.data.signer`` or ``document.signers``."""

    key: str | None = None
    name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    documentation: str | None = None
    birthday: str | None = None
    sign_as: list[str] = Field(default_factory=list)
    list_key: str | None = None

    @field_validator("sign_as", mode="before")
    @classmethod
    def _sign_as_list(cls, value: object) -> list[str]:
        # Clicksign sends `sign_as` as a string on `sign` and as a list on `refusal`.
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(item) for item in value]
        return [str(value)]

    @field_validator("email", mode="before")
    @classmethod
    def _normalise_email(cls, value: object) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        return text or None


class Document(_Lenient):
    """The part of Clicksign's document object the pipeline and the mapping use."""

    key: str
    account_key: str | None = None
    filename: str | None = None
    path: str | None = None
    status: str | None = None
    uploaded_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    deadline_at: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("key", mode="before")
    @classmethod
    def _key_not_blank(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("document.key is empty")
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_dict(cls, value: object) -> object:
        return value if isinstance(value, dict) else {}


class SignedDocumentEvent(BaseModel):
    """One Clicksign document event as it travels from ingest to crm_writer."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    event_id: str
    event_name: str
    occurred_at: str | None = None
    account_key: str | None = None
    document: Document
    signer: Signer | None = None
    signers: list[Signer] = Field(default_factory=list)
    raw: dict[str, Any]
    correlation_id: str
    received_at: datetime

    @property
    def document_key(self) -> str:
        return self.document.key

    @property
    def is_finalisation(self) -> bool:
        return self.event_name in FINALISATION_EVENTS

    def log_context(self) -> dict[str, str]:
        """The fields every log line about this event carries."""
        return {
            "event_id": self.event_id,
            "correlation_id": self.correlation_id,
            "document_key": self.document_key,
        }

    def to_json(self) -> bytes:
        # pydantic's own JSON serialiser: the same bytes as orjson over model_dump(mode="json")
        # without building the intermediate dict of a 6 KB webhook (a third faster).
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, body: bytes) -> SignedDocumentEvent:
        """Decode a message body; raises `InvalidClicksignPayload` on anything unusable."""
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidClicksignPayload(_first_error(exc)) from exc


def compute_event_id(
    event_name: str, document_key: str, occurred_at: str | None, signer_key: str | None
) -> str:
    """A deterministic idempotency key: every redelivery of one Clicksign event gets the same id."""
    material = "\x1f".join((event_name, document_key, occurred_at or "", signer_key or ""))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def parse_clicksign_webhook(
    body: bytes,
    *,
    correlation_id: str | None = None,
    received_at: datetime | None = None,
) -> SignedDocumentEvent:
    """Build a `SignedDocumentEvent` from the raw bytes of a Clicksign webhook."""
    payload = _load_object(body)
    event = payload.get("event")
    if not isinstance(event, dict):
        raise InvalidClicksignPayload("missing 'event' object")
    name = event.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidClicksignPayload("missing 'event.name'")
    raw_document = payload.get("document")
    if not isinstance(raw_document, dict):
        raise InvalidClicksignPayload("missing 'document' object")
    try:
        document = Document.model_validate(raw_document)
    except ValidationError as exc:
        raise InvalidClicksignPayload(_first_error(exc, prefix="document")) from exc

    name = name.strip()
    raw_data = event.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    signer = _optional_signer(data.get("signer"))
    occurred_at = event.get("occurred_at") if isinstance(event.get("occurred_at"), str) else None
    return SignedDocumentEvent(
        event_id=compute_event_id(name, document.key, occurred_at, _signer_identity(signer)),
        event_name=name,
        occurred_at=occurred_at,
        account_key=_account_key(data, document),
        document=document,
        signer=signer,
        signers=_document_signers(payload, raw_document),
        raw=payload,
        correlation_id=correlation_id or new_correlation_id(),
        received_at=received_at or datetime.now(UTC),
    )


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 text (Clicksign's, RD's, a header's) as an aware datetime, a missing offset read
    as UTC; None when ``value`` is not such a text."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidClicksignPayload("body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidClicksignPayload("body is not a JSON object")
    return payload


def _optional_signer(value: object) -> Signer | None:
    if not isinstance(value, dict):
        return None
    try:
        return Signer.model_validate(value)
    except ValidationError:
        return None


def _signer_identity(signer: Signer | None) -> str | None:
    # Without a key, two signers' `sign` events must still not share an event_id.
    if signer is None:
        return None
    return signer.key or signer.list_key or signer.email


def _document_signers(payload: dict[str, Any], raw_document: dict[str, Any]) -> list[Signer]:
    # The legacy docs draw `signers` beside `document`; real bodies carry them inside it.
    candidates = raw_document.get("signers")
    if not isinstance(candidates, list):
        candidates = payload.get("signers")
    if not isinstance(candidates, list):
        return []
    signers = [_optional_signer(item) for item in candidates]
    return [signer for signer in signers if signer is not None]


def _account_key(data: dict[str, Any], document: Document) -> str | None:
    account = data.get("account")
    if isinstance(account, dict) and isinstance(account.get("key"), str):
        return str(account["key"])
    return document.account_key


def _first_error(exc: ValidationError, prefix: str = "") -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    if prefix:
        location = f"{prefix}.{location}" if location else prefix
    return f"{location}: {error['msg']}" if location else str(error["msg"])
