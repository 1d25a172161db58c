"""RD Station CRM v1's own rules for the text signdeal writes: pure functions, no I/O.

RD refuses text shorter than two characters ("Toda informação cadastrada deve conter no mínimo
2 caracteres") and a contact name it has seen ("não pode se repetir"); its date fields take
DD/MM/YYYY. What signdeal leaves out for these rules is said in the event's history.
"""

from __future__ import annotations

from datetime import datetime

from shared.events import Signer

MIN_TEXT = 2  # RD v1 rejects text values shorter than two characters.


def rd_text(value: str | None) -> str | None:
    """``value`` as RD v1 stores it, or None when RD would refuse it: "Toda informação
    cadastrada deve conter no mínimo 2 caracteres" (blank and one-character values)."""
    text = (value or "").strip()
    return text if len(text) >= MIN_TEXT else None


def left_out(label: str, value: str | None) -> str:
    """The history's note for a value `rd_text` refused."""
    if not (value or "").strip():
        return f"{label} left out: nothing to write"
    return f"{label} left out: {value!r} is shorter than RD's {MIN_TEXT} characters"


def rd_date(moment: str | None) -> str:
    """An ISO 8601 timestamp as RD's date-field format, DD/MM/YYYY (in the timestamp's offset)."""
    if not moment:
        return ""
    try:
        return datetime.fromisoformat(moment).strftime("%d/%m/%Y")
    except ValueError:
        return ""


def contact_name(signer: Signer) -> str:
    name = (signer.name or "").strip()
    if len(name) >= MIN_TEXT:
        return name
    local_part = (signer.email or "").split("@", 1)[0]
    return local_part if len(local_part) >= MIN_TEXT else "Signatário Clicksign"


def disambiguated_contact_name(signer: Signer) -> str:
    """A contact name RD has not seen, for when it refuses a repeated one ("não pode se
    repetir"): the name with the signer's e-mail."""
    return f"{contact_name(signer)} ({signer.email})"
