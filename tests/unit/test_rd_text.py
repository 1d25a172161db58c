"""RD's own rules for the text signdeal writes (`services.crm_writer.rd_text`)."""

from __future__ import annotations

import pytest

from services.crm_writer.rd_text import disambiguated_contact_name, left_out, rd_date, rd_text
from shared.events import Signer


def test_rd_date_formats_in_the_timestamps_offset() -> None:
    assert rd_date("2026-03-28T23:30:00-03:00") == "28/03/2026"
    assert rd_date(None) == ""
    assert rd_date("yesterday") == ""


@pytest.mark.parametrize(
    ("value", "kept"), [("ab", "ab"), ("  Ana  ", "Ana"), ("A", None), ("  ", None), (None, None)]
)
def test_rd_takes_text_of_two_characters_or_more_trimmed(
    value: str | None, kept: str | None
) -> None:
    assert rd_text(value) == kept


def test_what_is_left_out_says_why() -> None:
    assert left_out("contact title", "A") == (
        "contact title left out: 'A' is shorter than RD's 2 characters"
    )
    assert left_out("contact title", " ") == "contact title left out: nothing to write"
    assert left_out("contact title", None) == "contact title left out: nothing to write"


def test_a_repeated_contact_name_is_told_apart_by_the_email() -> None:
    ana = Signer(name="Ana Souza", email="ana@example.com")

    assert disambiguated_contact_name(ana) == "Ana Souza (ana@example.com)"
