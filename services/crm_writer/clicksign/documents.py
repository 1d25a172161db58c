"""Typed, lenient views of Clicksign's API answers: a document as the API says it.

API 1.0 answers ``GET /api/v1/documents/{key}`` with ``{"document": {…}}``, the same document
object the webhooks carry (key, filename, path, status, signers, template, metadata…). API 3.0
is JSON:API: a document (``data.attributes``: filename, status, template, metadata) lives in an
envelope, whose signers are a separate resource (``data[].id`` + ``attributes``: name, email,
phone_number, documentation, birthday). Both become one `ClicksignDocument`; fields an answer
lacks stay empty. Shapes and sources: ``docs/clicksign.md`` and ``tests/fixtures/clicksign/api``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.events import Signer

API_1 = "1.0"
API_3 = "3.0"


class UnexpectedAnswer(ValueError):
    """The answer is JSON but not the resource asked for."""


@dataclass(frozen=True)
class ClicksignDocument:
    """One document as Clicksign's API describes it."""

    key: str
    api: str
    filename: str | None = None
    path: str | None = None
    status: str | None = None
    uploaded_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    deadline_at: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    signers: tuple[Signer, ...] = ()
    envelope_id: str | None = None


def document_from_v1(answer: Any) -> ClicksignDocument:
    """``GET /api/v1/documents/{key}``'s answer."""
    raw = answer.get("document") if isinstance(answer, dict) else None
    if not isinstance(raw, dict) or not _text(raw.get("key")):
        raise UnexpectedAnswer("the answer has no document")
    return ClicksignDocument(
        key=str(raw["key"]),
        api=API_1,
        filename=_text(raw.get("filename")),
        path=_text(raw.get("path")),
        status=_text(raw.get("status")),
        uploaded_at=_text(raw.get("uploaded_at")),
        updated_at=_text(raw.get("updated_at")),
        finished_at=_text(raw.get("finished_at")),
        deadline_at=_text(raw.get("deadline_at")),
        metadata=_mapping(raw.get("metadata")),
        template=template_variables(raw.get("template")),
        signers=tuple(_signers(raw.get("signers"))),
    )


def document_from_v3(envelope_id: str, document: Any, signers: Any) -> ClicksignDocument:
    """An envelope's document (``GET /api/v3/envelopes/{id}/documents/{id}``) with the
    envelope's signers (``GET /api/v3/envelopes/{id}/signers``). Every signer of the envelope
    is the document's: which document each signs lives in the envelope's requirements, not read.
    """
    resource = _resource(document)
    attributes = _mapping(resource.get("attributes"))
    return ClicksignDocument(
        key=str(resource["id"]),
        api=API_3,
        filename=_text(attributes.get("filename")),
        status=_text(attributes.get("status")),
        uploaded_at=_text(attributes.get("created")),
        updated_at=_text(attributes.get("modified")),
        metadata=_mapping(attributes.get("metadata")),
        template=template_variables(attributes.get("template")),
        signers=tuple(_signers(_v3_signer(item) for item in resources(signers))),
        envelope_id=envelope_id,
    )


def resources(answer: Any) -> list[dict[str, Any]]:
    """The resources of a JSON:API list answer (``{"data": [...]}``)."""
    items = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise UnexpectedAnswer("the answer is not a JSON:API list")
    return [item for item in items if isinstance(item, dict) and _text(item.get("id"))]


def template_variables(template: Any) -> dict[str, Any]:
    """The template's variables (``template.data``) of a document made from a template."""
    data = template.get("data") if isinstance(template, dict) else None
    return dict(data) if isinstance(data, dict) else {}


def account_name(answer: Any) -> str | None:
    """``GET /api/v1/accounts``'s answer: the account's name."""
    account = answer.get("account") if isinstance(answer, dict) else None
    return _text(account.get("name")) if isinstance(account, dict) else None


def _resource(answer: Any) -> dict[str, Any]:
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or not _text(data.get("id")):
        raise UnexpectedAnswer("the answer is not a JSON:API resource")
    return data


def _v3_signer(item: dict[str, Any]) -> dict[str, Any]:
    return {**_mapping(item.get("attributes")), "key": item["id"]}


def _signers(items: Iterable[Any] | Any) -> list[Signer]:
    if not isinstance(items, Iterable) or isinstance(items, str | bytes | dict):
        return []
    signers = []
    for item in items:
        if not isinstance(item, dict):
            continue
        try:
            signers.append(Signer.model_validate(item))
        except ValidationError:
            continue
    return signers


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    return None
