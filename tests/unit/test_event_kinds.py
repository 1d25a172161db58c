"""The catalogue of Clicksign event kinds: what a name means, and what an unknown name means."""

from __future__ import annotations

from shared.event_kinds import Links, kind_of


def test_an_event_name_clicksign_adds_later_finalises_cancels_ranks_and_links_nothing() -> None:
    kind = kind_of("envelope_archived")

    assert kind.name == "envelope_archived"
    assert not kind.trigger_by_default
    assert not kind.finalisation
    assert not kind.finishes
    assert not kind.cancels_document("closed")
    assert not kind.cancels_document("running")
    assert kind.rank is None
    assert kind.links is Links.NOBODY


def test_a_deadline_cancels_a_document_that_did_not_close_and_finishes_one_that_did() -> None:
    deadline = kind_of("deadline")

    assert deadline.cancels_document("running")
    assert deadline.cancels_document(None)
    assert not deadline.cancels_document("closed")
    assert deadline.finishes
    assert not deadline.finalisation


def test_cancel_and_refusal_cancel_whatever_the_document_status() -> None:
    for name in ("cancel", "refusal"):
        assert kind_of(name).cancels_document("closed")
        assert kind_of(name).cancels_document("running")
