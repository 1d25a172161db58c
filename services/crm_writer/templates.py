"""Templates over a Clicksign event: deal titles, custom-field values, contact titles.

A template is fixed text and ``{placeholders}`` over the event, the way the seed's Pluga setup
lets a user combine fixed text with "dynamic data" (file name, signer name…). Pure functions.
"""

from __future__ import annotations

import difflib
import re
import string
from pathlib import PurePosixPath

from services.crm_writer.rd_text import MIN_TEXT, rd_date
from shared.events import SignedDocumentEvent, Signer

PLACEHOLDERS: dict[str, str] = {
    "document.key": "Clicksign document key (UUID)",
    "document.filename": "file name, e.g. contrato.pdf",
    "document.name": "file name without extension, e.g. contrato",
    "document.path": "folder path and file name, e.g. /Contratos/contrato.pdf",
    "document.folder": "folder of the document, e.g. /Contratos",
    "document.status": "running, closed or canceled",
    "document.metadata.<key>": "a value of the document's metadata",
    "document.template.<key>": "a variable of the Clicksign template the document was made from",
    "signer.name": "the signer's name (the first signer for events without one)",
    "signer.email": "the signer's e-mail",
    "signer.phone": "the signer's phone number",
    "signer.documentation": "the signer's CPF",
    "event.name": "the Clicksign event, e.g. sign",
    "event.occurred_at": "when it happened, ISO 8601",
    "event.date": "the day it happened, DD/MM/YYYY",
    "account.key": "Clicksign account key",
}
_METADATA = "document.metadata."
_TEMPLATE = "document.template."
_FAMILIES = (_METADATA, _TEMPLATE)
_DANGLING = " -\u2013\u2014|:/,;"  # spaces, hyphen, en and em dashes, separators


class TemplateError(ValueError):
    """A title template refers to something the event does not have."""


class TitleTemplate:
    """A validated deal-title template, e.g. ``Contrato {document.name} - {signer.name}``."""

    def __init__(self, template: str) -> None:
        self.template = template
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise TemplateError(f"malformed template {template!r}: {exc}") from None
        unknown = [
            name
            for _, name, _, _ in parts
            if name is not None and name not in PLACEHOLDERS and not _is_family_member(name)
        ]
        if unknown:
            raise TemplateError(unknown_placeholder(unknown[0], template))
        self._parts = parts

    def render(self, event: SignedDocumentEvent) -> str:
        """The title for this event, never shorter than RD's two-character minimum."""
        title = self.render_value(event).strip(_DANGLING).strip()
        if len(title) < MIN_TEXT:
            return f"Documento {event.document_key}"
        return title

    def render_value(self, event: SignedDocumentEvent) -> str:
        """The template filled in for this event (a field value: no title fallback)."""
        values = placeholder_values(event)
        rendered = "".join(
            literal + (values.get(name, "") if name is not None else "")
            for literal, name, _, _ in self._parts
        )
        return re.sub(r"\s+", " ", rendered).strip()


def unknown_placeholder(name: str, template: str) -> str:
    """What to say of ``{name}``, unknown in ``template``: the closest placeholder, then all."""
    close = difflib.get_close_matches(name, list(PLACEHOLDERS), n=1)
    hint = f"did you mean {{{close[0]}}}? " if close else ""
    available = ", ".join(f"{{{placeholder}}}" for placeholder in PLACEHOLDERS)
    return f"unknown placeholder {{{name}}} in {template!r}; {hint}available: {available}"


def _is_family_member(name: str) -> bool:
    """``document.metadata.<key>`` and ``document.template.<key>``: any key is allowed, since
    the documents decide which exist; a missing one renders as empty text."""
    return any(name.startswith(family) and len(name) > len(family) for family in _FAMILIES)


def placeholder_values(event: SignedDocumentEvent) -> dict[str, str]:
    """Every placeholder's value for this event (missing data renders as empty text)."""
    document = event.document
    signer = primary_signer(event)
    path = PurePosixPath(document.path or f"/{document.filename or ''}")
    values = {
        "document.key": document.key,
        "document.filename": document.filename or path.name,
        "document.name": PurePosixPath(document.filename or path.name).stem,
        "document.path": document.path or "",
        "document.folder": str(path.parent) if document.path else "",
        "document.status": document.status or "",
        "signer.name": (signer.name if signer else None) or "",
        "signer.email": (signer.email if signer else None) or "",
        "signer.phone": (signer.phone_number if signer else None) or "",
        "signer.documentation": (signer.documentation if signer else None) or "",
        "event.name": event.event_name,
        "event.occurred_at": event.occurred_at or "",
        "event.date": rd_date(event.occurred_at),
        "account.key": event.account_key or "",
    }
    for prefix, variables in ((_METADATA, document.metadata), (_TEMPLATE, document.template)):
        for key, value in variables.items():
            values[f"{prefix}{key}"] = _text(value)
    return values


def _text(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def primary_signer(event: SignedDocumentEvent) -> Signer | None:
    """Who the event is about: its signer, else the document's first signer."""
    if event.signer is not None:
        return event.signer
    return event.signers[0] if event.signers else None
