"""Metric labels stay few: RD paths lose their ids, statuses become classes."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from services.crm_writer.metrics import PrometheusCrmWriterObserver, status_class
from services.crm_writer.observer import MessageOutcome, PurgedKind, QueueRole
from services.crm_writer.rdstation.client import endpoint_template


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/deals", "/deals"),
        ("/deals/65e5b7d153f61b6a40ed53ab", "/deals/{id}"),
        ("/deals/65e5b7d153f61b6a40ed53ab/contacts", "/deals/{id}/contacts"),
        ("/deal_stages/abc", "/deal_stages/{id}"),
        ("/contacts/42", "/contacts/{id}"),
        ("/token/check", "/token/check"),
        ("/something_new/7", "/{id}/{id}"),
    ],
)
def test_rd_paths_become_templates(path: str, template: str) -> None:
    assert endpoint_template(path) == template


@pytest.mark.parametrize(
    ("status", "label"),
    [(200, "2xx"), (201, "2xx"), (404, "4xx"), (429, "4xx"), (503, "5xx"), (None, "error")],
)
def test_statuses_become_classes(status: int | None, label: str) -> None:
    assert status_class(status) == label


def test_every_outcome_is_exported_before_it_happens() -> None:
    registry = CollectorRegistry()
    PrometheusCrmWriterObserver(registry)
    for outcome in MessageOutcome:
        assert (
            registry.get_sample_value(
                "signdeal_messages_consumed_total", {"outcome": outcome.value}
            )
            == 0
        )


def test_unknown_depths_and_age_are_not_shown_as_stale_figures() -> None:
    registry = CollectorRegistry()
    observer = PrometheusCrmWriterObserver(registry)
    observer.queue_depths({"crm_writer.deals.dead": (QueueRole.PARKING_LOT, 3)})
    observer.oldest_unprocessed_age(12.0)

    observer.queue_depths_unknown()
    observer.oldest_unprocessed_age(None)

    labels = {"queue": "crm_writer.deals.dead", "role": "parking_lot"}
    assert registry.get_sample_value("signdeal_queue_messages", labels) is None
    age = registry.get_sample_value("signdeal_oldest_unprocessed_event_age_seconds")
    assert age is not None
    assert math.isnan(age)


def test_purged_history_rows_are_counted_by_kind_from_zero() -> None:
    registry = CollectorRegistry()
    observer = PrometheusCrmWriterObserver(registry)
    for kind in PurgedKind:
        labels = {"kind": kind.value}
        assert registry.get_sample_value("signdeal_history_purged_rows_total", labels) == 0

    observer.history_purged(PurgedKind.EVENTS, 500)
    observer.history_purged(PurgedKind.EVENTS, 12)

    events = {"kind": "events"}
    assert registry.get_sample_value("signdeal_history_purged_rows_total", events) == 512
