"""The kinds of Clicksign event signdeal knows, and what each one means to it: one catalogue.

Clicksign's documented event names (docs/architecture.md, "To add… a Clicksign event kind") with,
for each: whether ingest publishes it by default (``CLICKSIGN_TRIGGER_EVENTS``), whether it
finalises the document (every signer signed and the document closed), whether it finishes the
document's life (a finalisation or a ``deadline``), whether it cancels the deal, its rank in the
document's life (a late event never moves a deal back from a stage a later event put it in), and
whom it links to the deal as contacts.

Event names stay free strings: Clicksign adds names, and an unknown one is a kind that does
nothing here (`kind_of`), never a refused event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Links(enum.Enum):
    """Whom an event adds to the deal's contacts."""

    NOBODY = "nobody"
    # ``event.data.signer``: who signed.
    THE_SIGNER = "the signer"
    # Every signer of the document, which also repairs a deal whose ``sign`` events were lost.
    EVERY_SIGNER = "every signer"


class Cancels(enum.Enum):
    """Whether an event cancels the document's deal (``deal.on_cancel`` of the mapping file)."""

    NEVER = "never"
    ALWAYS = "always"
    # A ``deadline`` finalises a document with a signature and cancels one without.
    UNLESS_CLOSED = "unless the document closed"


@dataclass(frozen=True)
class EventKind:
    name: str
    trigger_by_default: bool = False
    finalisation: bool = False
    finishes: bool = False
    cancels: Cancels = Cancels.NEVER
    # Where the event sits in a document's life; None: outside it (no stage ordering).
    rank: int | None = None
    links: Links = Links.NOBODY

    def cancels_document(self, document_status: str | None) -> bool:
        """True when this event, on a document now in ``document_status``, cancels its deal."""
        if self.cancels is Cancels.UNLESS_CLOSED:
            return document_status != "closed"
        return self.cancels is Cancels.ALWAYS


def _finalisation(name: str, rank: int) -> EventKind:
    return EventKind(
        name,
        trigger_by_default=True,
        finalisation=True,
        finishes=True,
        rank=rank,
        links=Links.EVERY_SIGNER,
    )


CATALOGUE: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        EventKind("sign", trigger_by_default=True, rank=1, links=Links.THE_SIGNER),
        _finalisation("auto_close", rank=2),
        _finalisation("close", rank=2),
        _finalisation("document_closed", rank=3),
        EventKind("deadline", finishes=True, cancels=Cancels.UNLESS_CLOSED, rank=2),
        EventKind("cancel", cancels=Cancels.ALWAYS),
        EventKind("refusal", cancels=Cancels.ALWAYS),
        EventKind("add_image"),
        EventKind("upload"),
        EventKind("add_signer"),
        EventKind("remove_signer"),
        EventKind("update_deadline"),
        EventKind("update_auto_close"),
        EventKind("update_locale"),
        EventKind("custom"),
        EventKind("signature_started"),
    )
}

# Published by ingest unless CLICKSIGN_TRIGGER_EVENTS says otherwise.
DEFAULT_TRIGGER_EVENTS: tuple[str, ...] = tuple(
    name for name, kind in CATALOGUE.items() if kind.trigger_by_default
)
# Clicksign's documented names; metrics count any other as "other" to bound their labels.
KNOWN_EVENTS: frozenset[str] = frozenset(CATALOGUE)


def kind_of(event_name: str) -> EventKind:
    """The catalogue's kind for ``event_name``; a name it does not know is a kind that finalises,
    finishes, cancels, ranks and links nothing."""
    return CATALOGUE.get(event_name) or EventKind(event_name)
