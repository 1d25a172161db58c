"""Realistic Clicksign webhooks, for tests, the operator's ``send-test`` and benchmarks.

`build_webhook` returns a body with the shape Clicksign sends (docs/reference/clicksign.md §3):
``{"event": {"name", "data", "occurred_at"}, "document": {...}}`` with the document's signers and
event history inside ``document``. `thin` and `without_signer_email` make it as thin as real
traffic can be (docs/clicksign.md; its full ``document`` is then what Clicksign's API knows).
`encode` turns it into the bytes that travel, `signed_request` adds Clicksign's headers
(``Content-Hmac`` over exactly those bytes), `post_webhook` sends it.
Everything except `post_webhook` is pure: signer keys, list keys and CPFs are derived from the
inputs, so calls with the same ``document_key`` and ``occurred_at`` give the same body.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson

from shared.event_kinds import kind_of
from shared.signature import SIGNATURE_HEADER, sign

_NAMESPACE = uuid.UUID("6f1c8f4e-2f0b-4c55-9d7e-5c1d2b3a4e5f")
BRASILIA = timezone(timedelta(hours=-3))
DEFAULT_FILENAME = "Contrato de Prestação de Serviços.pdf"
DEFAULT_ACCOUNT_KEY = "7a0c4e2d-5b1f-4d8e-9c3a-2f6b8d1e0a47"
ACCOUNT_USER = {"email": "operacoes@example.com", "name": "Operações Jurídicas"}
REFUSAL_REASONS = ["Conteúdo do documento", "Dados pessoais incorretos"]
LOG_VERSION = "1.1495.0"

_SAMPLE_NAMES = (
    "João Pedro Araújo",
    "Maria Conceição Gonçalves",
    "Ana Luíza Magalhães",
    "Antônio Carlos Brandão",
    "Fernanda Simões Ribeiro",
    "José Inácio Peçanha",
    "Beatriz Assunção Lima",
    "Sérgio Tavares Guimarães",
    "Cláudia Monteiro Falcão",
    "Luís Otávio Conceição",
)


@dataclass(frozen=True)
class SampleSigner:
    """A signer as the tests need one: who they are and how they sign."""

    name: str
    email: str
    documentation: str | None
    phone_number: str | None
    birthday: str | None
    key: str
    sign_as: str = "party"
    auths: tuple[str, ...] = field(default=("email",))


def make_signers(count: int, *, seed: int = 0) -> list[SampleSigner]:
    """``count`` distinct signers: Brazilian names (with accents), e-mails and valid CPFs."""
    return [_sample_signer(seed * 1000 + index) for index in range(count)]


def build_webhook(
    event_name: str,
    *,
    document_key: str | None = None,
    filename: str = DEFAULT_FILENAME,
    signers: Sequence[SampleSigner] | None = None,
    signer_index: int | None = None,
    occurred_at: datetime | str | None = None,
    account_key: str | None = None,
    path: str | None = None,
    status: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A webhook body for ``event_name`` on one document.

    ``signer_index`` picks the signer who signed (``sign``) or refused (``refusal``); by default
    the first. ``status`` defaults to what the document's status is after that event.
    """
    signers = list(signers) if signers is not None else make_signers(2)
    document_key = document_key or str(uuid.uuid4())
    account_key = account_key or DEFAULT_ACCOUNT_KEY
    when = _as_datetime(occurred_at)
    actor = signers[signer_index or 0] if signers else None
    context = _Context(document_key, account_key, signers, when)
    data = _event_data(event_name, context, actor)
    document = _document(
        context,
        filename=filename,
        path=path if path is not None else f"/Contratos/{filename}",
        status=status or _status_after(event_name),
        metadata=dict(metadata or {}),
        history=_history(event_name, data, context, signer_index or 0),
    )
    occurred = occurred_at if isinstance(occurred_at, str) else _clicksign_time(when)
    return {
        "event": {"name": event_name, "data": data, "occurred_at": occurred},
        "document": document,
    }


def thin(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` as real finalisations arrive: the document without signers, file name and path.

    A production ``auto_close`` carried ``"signers": []`` and others' examples carry no
    ``filename``/``path`` (tests/fixtures/clicksign/README.md); ``body["document"]`` stays the
    full document, the one Clicksign's API answers for the same key.
    """
    document = {k: v for k, v in body["document"].items() if k not in ("filename", "path")}
    document["signers"] = []
    return {**body, "document": document}


def without_signer_email(body: Mapping[str, Any]) -> dict[str, Any]:
    """A ``sign`` whose ``event.data.signer`` carries its keys but no e-mail."""
    event = dict(body["event"])
    data = dict(event.get("data") or {})
    signer = {k: v for k, v in (data.get("signer") or {}).items() if k != "email"}
    data["signer"] = signer
    event["data"] = data
    return {**body, "event": event}


def encode(body: Mapping[str, Any]) -> bytes:
    """The bytes on the wire: compact JSON, UTF-8, accents not escaped."""
    return orjson.dumps(body)


def signed_request(
    body_bytes: bytes, secret: str, *, event_name: str | None = None
) -> dict[str, str]:
    """The headers Clicksign sends with ``body_bytes``, signed with ``secret``."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        SIGNATURE_HEADER: sign(body_bytes, secret),
    }
    name = event_name or _event_name_of(body_bytes)
    if name:
        headers["Event"] = name
    return headers


async def post_webhook(
    url: str,
    body: Mapping[str, Any] | bytes,
    secret: str,
    session: aiohttp.ClientSession | None = None,
    request_id: str | None = None,
) -> tuple[int, Any]:
    """POST a signed webhook; returns the status and the decoded JSON answer (None if not JSON)."""
    payload = body if isinstance(body, bytes) else encode(body)
    headers = signed_request(payload, secret)
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    if session is None:
        async with aiohttp.ClientSession() as own_session:
            return await _post(own_session, url, payload, headers)
    return await _post(session, url, payload, headers)


async def _post(
    session: aiohttp.ClientSession, url: str, payload: bytes, headers: dict[str, str]
) -> tuple[int, Any]:
    async with session.post(url, data=payload, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, orjson.loads(text)
        except orjson.JSONDecodeError:
            return response.status, None


@dataclass(frozen=True)
class _Context:
    document_key: str
    account_key: str
    signers: list[SampleSigner]
    occurred_at: datetime

    def derived_key(self, *parts: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, "/".join((self.document_key, *parts))))

    @property
    def account(self) -> dict[str, Any]:
        return {"key": self.account_key}


def _event_data(
    event_name: str, context: _Context, actor: SampleSigner | None
) -> dict[str, Any] | None:
    account = context.account
    if event_name == "auto_close":
        return None
    if event_name == "sign" and actor is not None:
        return {
            "signer": _signing_signer(actor, context),
            "secret_hmac": None,
            "account": {**account, "timestamp_signature_functionality": False},
            "log_version": LOG_VERSION,
        }
    if event_name == "refusal" and actor is not None:
        refusal = {"reasons": REFUSAL_REASONS, "comment": "Valor da multa diverge do combinado."}
        return {"signer": _refusing_signer(actor, context), "refusal": refusal, "account": account}
    if event_name == "deadline":
        return {"reached_at": _clicksign_time(context.occurred_at)}
    if event_name == "document_closed":
        return {"account": account}
    if event_name == "add_signer":
        signers = [_document_signer(signer, context) for signer in context.signers]
        return {"user": ACCOUNT_USER, "account": account, "signers": signers}
    return {"user": ACCOUNT_USER, "account": account}


def _document(
    context: _Context,
    *,
    filename: str,
    path: str,
    status: str,
    metadata: dict[str, Any],
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    uploaded = context.occurred_at - timedelta(days=2, hours=3)
    key = context.document_key
    return {
        "key": key,
        "account_key": context.account_key,
        "path": path,
        "filename": filename,
        "uploaded_at": _utc_time(uploaded),
        "updated_at": _utc_time(context.occurred_at),
        "finished_at": _utc_time(context.occurred_at) if status == "closed" else None,
        "deadline_at": _clicksign_time(uploaded + timedelta(days=30)),
        "status": status,
        "auto_close": True,
        "locale": "pt-BR",
        "metadata": metadata,
        "sequence_enabled": False,
        "signable_group": None,
        "remind_interval": 3,
        "block_after_refusal": True,
        "downloads": _downloads(key, status),
        "template": None,
        "signers": [_document_signer(signer, context) for signer in context.signers],
        "events": history,
        "attachments": [],
        "links": {"self": f"/{key}"},
    }


def _downloads(document_key: str, status: str) -> dict[str, str]:
    base = f"https://sandbox.clicksign.com/api/v1/documents/{document_key}/download"
    links = {"original_file_url": f"{base}/original"}
    if status == "closed":
        links["signed_file_url"] = f"{base}/signed"
        links["ziped_file_url"] = f"{base}/ziped"
    return links


def _history(
    event_name: str, data: dict[str, Any] | None, context: _Context, signer_index: int
) -> list[dict[str, Any]]:
    """The document's past events, oldest first, ending with this one."""
    steps: list[tuple[str, dict[str, Any] | None]] = [
        ("upload", {"user": ACCOUNT_USER, "account": context.account}),
        ("add_signer", _event_data("add_signer", context, None)),
    ]
    signed = _signers_who_signed(event_name, context.signers, signer_index)
    steps += [("sign", {"signer": _short_signer(signer)}) for signer in signed]
    if event_name == "document_closed":
        steps.append(("auto_close", None))
    if event_name not in {"upload", "add_signer"}:
        steps.append((event_name, data))
    count = len(steps)
    return [
        {
            "name": name,
            "data": step_data,
            "occurred_at": _clicksign_time(
                context.occurred_at - timedelta(minutes=5 * (count - 1 - position))
            ),
        }
        for position, (name, step_data) in enumerate(steps)
    ]


def _signers_who_signed(
    event_name: str, signers: list[SampleSigner], signer_index: int
) -> list[SampleSigner]:
    # The current `sign` is appended as the last step, so only the earlier signatures go here.
    if event_name in {"sign", "refusal"}:
        return signers[:signer_index]
    if event_name == "deadline":
        return signers[:1]
    if kind_of(event_name).finishes:
        return signers
    return []


def _status_after(event_name: str) -> str:
    if event_name == "cancel":
        return "canceled"
    return "closed" if kind_of(event_name).finishes else "running"


def _document_signer(signer: SampleSigner, context: _Context) -> dict[str, Any]:
    request_signature_key = context.derived_key("request", signer.key)
    return {
        "list_key": context.derived_key("list", signer.key),
        "key": signer.key,
        "request_signature_key": request_signature_key,
        "email": signer.email,
        "name": signer.name,
        "has_documentation": signer.documentation is not None,
        "documentation": signer.documentation,
        "birthday": signer.birthday,
        "phone_number": signer.phone_number,
        "sign_as": signer.sign_as,
        "delivery": "email",
        "refusable": True,
        "url": f"https://sandbox.clicksign.com/sign/{request_signature_key}",
        "auths": list(signer.auths),
        "created_at": _utc_time(context.occurred_at - timedelta(days=2)),
    }


def _signing_signer(signer: SampleSigner, context: _Context) -> dict[str, Any]:
    """``event.data.signer`` of a ``sign`` event: the signer plus how and where they signed."""
    phone = signer.phone_number
    phone_hash = hashlib.sha256(phone.encode()).hexdigest() if phone else None
    return {
        "sign_as": signer.sign_as,
        "key": signer.key,
        "email": signer.email,
        "name": signer.name,
        "birthday": signer.birthday,
        "documentation": signer.documentation,
        "has_documentation": signer.documentation is not None,
        "created_at": _clicksign_time(context.occurred_at - timedelta(days=2)),
        "auths": list(signer.auths),
        **_authentication_flags(),
        "communicate_by": "email",
        "phone_number": signer.phone_number,
        "phone_number_hash": phone_hash,
        "list_key": context.derived_key("list", signer.key),
        "url": f"https://sandbox.clicksign.com/sign/{context.derived_key('request', signer.key)}",
        "address": f"203.0.113.{int(uuid.UUID(signer.key)) % 250 + 1}",
        "validation": {"status": "conferred", "name": signer.name},
        "selfie_name": None,
        "selfie_hash": None,
        "handwritten_name": None,
        "handwritten_hash": None,
        "official_document_front_hash": None,
        "official_document_back_hash": None,
        "official_front_name": None,
        "official_back_name": None,
        "read_receipts?": False,
        "latitude": "-23.5505199",
        "longitude": "-46.6333094",
        "federal_data_validation": None,
    }


def _refusing_signer(signer: SampleSigner, context: _Context) -> dict[str, Any]:
    # Clicksign's refusal example carries `sign_as` as a list, unlike `sign`.
    return {
        "key": signer.key,
        "email": signer.email,
        "name": signer.name,
        "birthday": signer.birthday,
        "documentation": signer.documentation,
        "has_documentation": signer.documentation is not None,
        "created_at": _clicksign_time(context.occurred_at - timedelta(days=2)),
        "auths": list(signer.auths),
        **_authentication_flags(),
        "communicate_by": "email",
        "sign_as": [signer.sign_as],
    }


def _short_signer(signer: SampleSigner) -> dict[str, Any]:
    return {"key": signer.key, "email": signer.email, "name": signer.name}


def _authentication_flags() -> dict[str, bool]:
    return {
        "selfie_enabled": False,
        "handwritten_enabled": False,
        "official_document_enabled": False,
        "liveness_enabled": False,
        "facial_biometrics_enabled": False,
    }


def _sample_signer(number: int) -> SampleSigner:
    rng = random.Random(number)
    suffix = "" if number < len(_SAMPLE_NAMES) else str(number)
    # RD refuses a contact name that repeats: past the list, names carry the number like e-mails.
    name = f"{_SAMPLE_NAMES[number % len(_SAMPLE_NAMES)]} {suffix}".strip()
    first, *_, last = _ascii(_SAMPLE_NAMES[number % len(_SAMPLE_NAMES)]).lower().split()
    return SampleSigner(
        name=name,
        email=f"{first}.{last}{suffix}@example.com",
        documentation=_cpf(rng),
        phone_number=f"11{rng.randint(900000000, 999999999)}",
        birthday=f"{rng.randint(1950, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        key=str(uuid.uuid5(_NAMESPACE, f"signer/{number}")),
    )


def _cpf(rng: random.Random) -> str:
    """A CPF with valid check digits, formatted ``000.000.000-00``."""
    digits = [rng.randint(0, 9) for _ in range(9)]
    for length in (9, 10):
        weights = range(length + 1, 1, -1)
        total = sum(digit * weight for digit, weight in zip(digits, weights, strict=True))
        digits.append(total * 10 % 11 % 10)
    text = "".join(map(str, digits))
    return f"{text[:3]}.{text[3:6]}.{text[6:9]}-{text[9:]}"


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _as_datetime(value: datetime | str | None) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.now(BRASILIA)


def _clicksign_time(moment: datetime) -> str:
    """Clicksign's usual form: milliseconds and the ``-03:00`` offset."""
    return moment.astimezone(BRASILIA).isoformat(timespec="milliseconds")


def _utc_time(moment: datetime) -> str:
    # Clicksign mixes `Z` and `-03:00` timestamps in one document; so do we.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_name_of(body_bytes: bytes) -> str | None:
    try:
        payload = orjson.loads(body_bytes)
    except orjson.JSONDecodeError:
        return None
    event = payload.get("event") if isinstance(payload, dict) else None
    name = event.get("name") if isinstance(event, dict) else None
    return name if isinstance(name, str) else None
