"""The wire event: one Clicksign webhook, normalised into `SignedDocumentEvent`.

Clicksign's API 1.0 and API 3.0 accounts send the same webhook body,
``{"event": {"name", "data", "occurred_at"}, "document": {...}}``; real traffic is odder (see
docs/clicksign.md): ``document`` drawn as a one-element list, events with no ``document`` at all
(``acceptance_term_*``), thin finalisations without signers or file name. Reading happens in two
steps so that ingest can answer an event it does not act on whatever its shape:
`read_clicksign_webhook` needs only a JSON object and an event name (the body's ``event.name``,
else the ``Event`` header); `parse_clicksign_webhook` then needs ``document.key`` and is lenient
with everything else: unknown fields are kept in ``raw``, optional fields may be missing, null or
of another type than documented.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from shared.event_kinds import EventKind, kind_of

SCHEMA_VERSION = 1
# How deep a webhook's JSON may nest. Clicksign's bodies nest about 5 levels; the limit keeps
# every later step (validation, serialisation, the store) far from any recursion limit.
MAX_NESTING = 32
_CONTAINERS = (dict, list)


class InvalidClicksignPayload(ValueError):
    """The body is not JSON or does not have the shape of a Clicksign document event."""


def _text_or_nothing(value: object) -> object:
    # Clicksign may send a number where text is documented, or an object where a field is not
    # what we expect: a wrong type in a field we only read never refuses the event.
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return None


# Text that Clicksign documents as text: a number becomes its text, anything else nothing.
LenientText = Annotated[str | None, BeforeValidator(_text_or_nothing)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Signer(_Lenient):
    """A signer as Clicksign describes it, in ``event.data.signer`` or ``document.signers``."""

    key: LenientText = None
    name: LenientText = None
    email: LenientText = None
    phone_number: LenientText = None
    documentation: LenientText = None
    birthday: LenientText = None
    sign_as: list[str] = Field(default_factory=list)
    list_key: LenientText = None

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

    @field_validator("email")
    @classmethod
    def _normalise_email(cls, value: str | None) -> str | None:
        text = value.strip() if value is not None else ""
        return text or None


class Document(_Lenient):
    """The part of Clicksign's document object the pipeline and the mapping use."""

    key: str
    account_key: LenientText = None
    filename: LenientText = None
    path: LenientText = None
    status: LenientText = None
    uploaded_at: LenientText = None
    updated_at: LenientText = None
    finished_at: LenientText = None
    deadline_at: LenientText = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # The variables of a document made from a Clicksign template (``document.template.data``),
    # e.g. the company's name the Pluga guide puts in the deal title.
    template: dict[str, Any] = Field(default_factory=dict)

    @field_validator("key", mode="before")
    @classmethod
    def _key_not_blank(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not value.strip():
            raise ValueError("document.key is empty")
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_dict(cls, value: object) -> object:
        return value if isinstance(value, dict) else {}

    @field_validator("template", mode="before")
    @classmethod
    def _template_variables(cls, value: object) -> object:
        data = value.get("data") if isinstance(value, dict) else None
        return data if isinstance(data, dict) else {}


_RAW_FIELD = {"raw"}


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
    def kind(self) -> EventKind:
        """What this event's name means to signdeal (`shared.event_kinds`)."""
        return kind_of(self.event_name)

    @property
    def is_finalisation(self) -> bool:
        return self.kind.finalisation

    def log_context(self) -> dict[str, str]:
        """The fields every log line about this event carries."""
        return {
            "event_id": self.event_id,
            "correlation_id": self.correlation_id,
            "document_key": self.document_key,
        }

    def to_json(self) -> bytes:
        """The message body. ``raw`` (most of its bytes) is plain JSON already: orjson writes it
        in a fraction of the time pydantic takes to infer the type of every value; pydantic
        writes the fields it owns. What orjson refuses (an integer past 64 bits, a key that is
        not text, which only an event built in code can hold) falls back to pydantic."""
        fields = self.model_dump(mode="json", exclude=_RAW_FIELD)
        fields["raw"] = self.raw
        try:
            return orjson.dumps(fields)
        except orjson.JSONEncodeError:
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


@dataclass(frozen=True)
class ClicksignWebhook:
    """A signed body read just enough to decide whether signdeal acts on it; what is read from
    it is read once (ingest asks for the signer and the ids more than once per webhook)."""

    event_name: str
    payload: dict[str, Any]
    # The name the ``Event`` header gave, when it disagrees with the body's.
    header_mismatch: str | None = None

    @cached_property
    def document_key(self) -> str | None:
        document = _document_object(self.payload.get("document"))
        return _key_text(document.get("key")) if document is not None else None

    @property
    def occurred_at(self) -> str | None:
        value = self._event.get("occurred_at")
        return value if isinstance(value, str) else None

    @cached_property
    def signer(self) -> Signer | None:
        """``event.data.signer`` (who signed, for ``sign``)."""
        return _optional_signer(self.data.get("signer"))

    @cached_property
    def event_id(self) -> str:
        """The same id for every redelivery of this Clicksign event (`compute_event_id`);
        events about an acceptance term instead of a document use its key."""
        acceptance = self.payload.get("acceptance")
        subject = self.document_key or (
            _key_text(acceptance.get("key")) if isinstance(acceptance, dict) else None
        )
        return compute_event_id(
            self.event_name, subject or "", self.occurred_at, _signer_identity(self.signer)
        )

    @cached_property
    def _event(self) -> dict[str, Any]:
        event = self.payload.get("event")
        return event if isinstance(event, dict) else {}

    @cached_property
    def data(self) -> dict[str, Any]:
        """``event.data``; empty when absent or null (``auto_close`` sends null)."""
        data = self._event.get("data")
        return data if isinstance(data, dict) else {}


def read_clicksign_webhook(body: bytes, header_event: str | None = None) -> ClicksignWebhook:
    """A JSON object with an event name, from ``event.name`` or else the ``Event`` header;
    `InvalidClicksignPayload` when the body is not a Clicksign event at all."""
    payload = _load_object(body)
    event = payload.get("event")
    name = event.get("name") if isinstance(event, dict) else None
    header = header_event.strip() if header_event and header_event.strip() else None
    if isinstance(name, str) and name.strip():
        name = name.strip()
        return ClicksignWebhook(name, payload, header if header not in (None, name) else None)
    if header is not None:
        return ClicksignWebhook(header, payload)
    if not isinstance(event, dict):
        raise InvalidClicksignPayload("missing 'event' object and no Event header")
    raise InvalidClicksignPayload("missing 'event.name' and no Event header")


def parse_clicksign_webhook(
    body: bytes | ClicksignWebhook,
    *,
    correlation_id: str | None = None,
    received_at: datetime | None = None,
) -> SignedDocumentEvent:
    """Build a `SignedDocumentEvent` from a Clicksign webhook (its raw bytes, or what
    `read_clicksign_webhook` made of them); the event must be about a document."""
    webhook = body if isinstance(body, ClicksignWebhook) else read_clicksign_webhook(body)
    payload = webhook.payload
    raw_document = _document_object(payload.get("document"))
    if raw_document is None:
        raise InvalidClicksignPayload(_why_no_document(payload.get("document")))
    try:
        document = Document.model_validate(raw_document)
    except ValidationError as exc:
        raise InvalidClicksignPayload(_first_error(exc, prefix="document")) from exc

    return SignedDocumentEvent(
        event_id=webhook.event_id,
        event_name=webhook.event_name,
        occurred_at=webhook.occurred_at,
        account_key=_account_key(webhook.data, document),
        document=document,
        signer=webhook.signer,
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
        # orjson refuses nesting past its own recursion limit with the same error.
        raise InvalidClicksignPayload("body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidClicksignPayload("body is not a JSON object")
    if nesting_depth(payload) > MAX_NESTING:
        raise InvalidClicksignPayload(f"body nests deeper than {MAX_NESTING} levels")
    return payload


def nesting_depth(value: object) -> int:
    """How deep objects and arrays nest in ``value`` (a scalar is 0), without recursion: one
    level at a time, each container visited once, so the work grows with the body's size."""
    depth = 0
    level: list[dict[str, Any] | list[Any]] = [value] if isinstance(value, dict | list) else []
    while level:
        depth += 1
        below: list[dict[str, Any] | list[Any]] = []
        for container in level:
            for child in container.values() if isinstance(container, dict) else container:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        level = below
    return depth


def _key_text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _document_object(value: object) -> dict[str, Any] | None:
    # Clicksign's own document_closed example draws ``document`` as a one-element list.
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, dict) else None


def _why_no_document(value: object) -> str:
    if value is None:
        return "missing 'document' object"
    if isinstance(value, list):
        return f"'document' is a list of {len(value)} items, not one document"
    return "'document' is not an object"


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
