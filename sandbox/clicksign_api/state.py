"""The documents the sandbox's Clicksign API knows, and how each API draws them.

A document is registered as the webhooks draw it (the ``document`` object: key, filename, path,
status, signers, template, metadata…), for API 1.0, API 3.0 or both. API 1.0 answers it as is
(``{"document": {…}}``); API 3.0 puts it in an envelope named like the path's folder (as the v3
webhook capture shows: ``/<envelope name>/<file>``) and answers JSON:API resources.
Shapes: ``tests/fixtures/clicksign/api`` and ``docs/clicksign.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

API_1 = "1.0"
API_3 = "3.0"
_NAMESPACE = uuid.UUID("2d6f7a51-9c1e-4b8a-8f0e-3c5d1a7b9e24")


@dataclass
class SandboxDocument:
    body: dict[str, Any]
    apis: frozenset[str]
    envelope_id: str
    envelope_name: str
    modified: datetime

    @property
    def key(self) -> str:
        return str(self.body["key"])


class ClicksignApiState:
    """Registered documents by key. `reset` forgets them all."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._documents: dict[str, SandboxDocument] = {}

    def reset(self) -> None:
        self._documents.clear()

    def register(
        self,
        document: dict[str, Any],
        *,
        apis: Iterable[str] = (API_1,),
        envelope_name: str | None = None,
        modified: datetime | None = None,
    ) -> SandboxDocument:
        """Know ``document`` (a webhook's ``document`` object) under the APIs listed; its
        envelope was last changed at ``modified`` (now by default), which API 3.0's
        ``filter[modified]`` looks at."""
        key = str(document["key"])
        chosen = frozenset(apis)
        if not chosen or not chosen <= {API_1, API_3}:
            raise ValueError(f"apis must be among {API_1!r} and {API_3!r}")
        stored = SandboxDocument(
            body=dict(document),
            apis=chosen,
            envelope_id=str(uuid.uuid5(_NAMESPACE, key)),
            envelope_name=envelope_name or _envelope_name(document),
            modified=modified or self._clock(),
        )
        self._documents[key] = stored
        return stored

    @property
    def documents(self) -> list[SandboxDocument]:
        return list(self._documents.values())

    def restore(self, documents: Iterable[SandboxDocument]) -> None:
        """Know exactly ``documents`` (read back from the sandbox's state file)."""
        self._documents = {document.key: document for document in documents}

    # -- API 1.0 ---------------------------------------------------------------------------------

    def v1_document(self, key: str) -> dict[str, Any] | None:
        found = self._documents.get(key)
        return {"document": found.body} if found and API_1 in found.apis else None

    # -- API 3.0 ---------------------------------------------------------------------------------

    def v3_envelopes(
        self, name: str | None = None, modified: tuple[datetime, datetime] | None = None
    ) -> list[SandboxDocument]:
        return [
            stored
            for stored in self._documents.values()
            if API_3 in stored.apis
            and (name is None or stored.envelope_name == name)
            and (modified is None or modified[0] <= stored.modified <= modified[1])
        ]

    def v3_envelope(self, envelope_id: str) -> SandboxDocument | None:
        return next((d for d in self.v3_envelopes() if d.envelope_id == envelope_id), None)


def render_envelope(stored: SandboxDocument, base_url: str) -> dict[str, Any]:
    body = stored.body
    return {
        "id": stored.envelope_id,
        "type": "envelopes",
        "links": {"self": f"{base_url}/api/v3/envelopes/{stored.envelope_id}"},
        "attributes": {
            "name": stored.envelope_name,
            "status": body.get("status") or "running",
            "deadline_at": body.get("deadline_at"),
            "locale": body.get("locale") or "pt-BR",
            "auto_close": body.get("auto_close", True),
            "created": body.get("uploaded_at"),
            "modified": stored.modified.isoformat(timespec="milliseconds"),
        },
    }


def render_v3_document(stored: SandboxDocument, base_url: str) -> dict[str, Any]:
    body = stored.body
    self_url = f"{base_url}/api/v3/envelopes/{stored.envelope_id}/documents/{stored.key}"
    return {
        "data": {
            "id": stored.key,
            "type": "documents",
            "links": {"self": self_url, "files": {"original": f"{self_url}/original.pdf"}},
            "attributes": {
                "status": body.get("status"),
                "filename": body.get("filename"),
                "template": body.get("template"),
                "metadata": body.get("metadata") or {},
                "created": body.get("uploaded_at"),
                "modified": stored.modified.isoformat(timespec="milliseconds"),
            },
        }
    }


def render_v3_signers(stored: SandboxDocument, base_url: str) -> dict[str, Any]:
    signers = [s for s in stored.body.get("signers") or [] if isinstance(s, dict) and s.get("key")]
    items = [
        {
            "id": signer["key"],
            "type": "signers",
            "links": {
                "self": f"{base_url}/api/v3/envelopes/{stored.envelope_id}/signers/{signer['key']}"
            },
            "attributes": {
                "name": signer.get("name"),
                "birthday": signer.get("birthday"),
                "email": signer.get("email"),
                "phone_number": signer.get("phone_number"),
                "has_documentation": signer.get("has_documentation", True),
                "documentation": signer.get("documentation"),
                "refusable": signer.get("refusable", False),
                "group": 1,
                "created": signer.get("created_at"),
                "modified": signer.get("created_at"),
            },
        }
        for signer in signers
    ]
    return list_answer(items, f"{base_url}/api/v3/envelopes/{stored.envelope_id}/signers")


def list_answer(items: list[dict[str, Any]], url: str) -> dict[str, Any]:
    page = f"{url}?page%5Bnumber%5D=1&page%5Bsize%5D=20"
    return {
        "data": items,
        "meta": {"record_count": len(items)},
        "links": {"first": page, "last": page},
    }


def _envelope_name(document: dict[str, Any]) -> str:
    path = document.get("path")
    if isinstance(path, str) and PurePosixPath(path).parent.name:
        return PurePosixPath(path).parent.name
    filename = document.get("filename")
    if isinstance(filename, str) and filename:
        return PurePosixPath(filename).stem
    return f"Envelope {document['key']}"
