"""The catalogue of Clicksign event kinds: what a name means, and what an unknown name means."""

from __future__ import annotations

import pytest

from shared.event_kinds import DEFAULT_TRIGGER_EVENTS, Links, kind_of


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


@pytest.mark.parametrize(
    ("name", "rank"), [("auto_close", 2), ("close", 2), ("document_closed", 3)]
)
def test_a_finalisation_is_a_default_trigger_that_finishes_and_links_every_signer(
    name: str, rank: int
) -> None:
    kind = kind_of(name)

    assert kind.name == name
    assert kind.trigger_by_default
    assert kind.finalisation
    assert kind.finishes
    assert not kind.cancels_document("running")
    assert kind.rank == rank
    assert kind.links is Links.EVERY_SIGNER


def test_the_default_triggers_are_sign_and_the_finalisations() -> None:
    assert DEFAULT_TRIGGER_EVENTS == ("sign", "auto_close", "close", "document_closed")
