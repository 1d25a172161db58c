"""RD's own rules for the text signdeal writes (`services.crm_writer.rd_text`)."""

from __future__ import annotations

from services.crm_writer.rd_text import rd_date


def test_rd_date_formats_in_the_timestamps_offset() -> None:
    assert rd_date("2026-03-28T23:30:00-03:00") == "28/03/2026"
    assert rd_date(None) == ""
    assert rd_date("yesterday") == ""
