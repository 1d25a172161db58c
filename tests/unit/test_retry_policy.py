from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from services.crm_writer.clicksign import ClicksignUnavailable
from services.crm_writer.rdstation import (
    RdStationForbidden,
    RdStationRateLimited,
    RdStationRejected,
    RdStationUnavailable,
)
from services.crm_writer.retry_policy import Park, Retry, RetryPolicy, describe_failure
from services.crm_writer.store import LockTimeout, StoreUnavailable

POLICY = RetryPolicy(delays=(5, 30, 120, 600, 3600), max_attempts=6, max_age_seconds=6 * 3600)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def decide(error: BaseException, attempts: int = 1, age: float = 0) -> Retry | Park | None:
    return POLICY.decide(error, attempts, NOW - timedelta(seconds=age), NOW)


def test_server_errors_retry_with_growing_delays() -> None:
    delays = [decide(RdStationUnavailable("500"), attempts=n) for n in range(1, 6)]
    assert [d.delay_seconds for d in delays if isinstance(d, Retry)] == [5, 30, 120, 600, 3600]


def test_delay_stays_at_the_last_tier() -> None:
    policy = RetryPolicy(delays=(5, 30), max_attempts=10, max_age_seconds=10_000)
    assert policy.decide(RdStationUnavailable("x"), 7, NOW, NOW) == Retry(30, "RD Station: x")


def test_validation_errors_park_at_once_with_rds_message() -> None:
    decision = decide(RdStationRejected("name: Nome muito curto", status=422, path="/deals"))
    assert isinstance(decision, Park)
    assert "Nome muito curto" in decision.reason


def test_retry_budget_by_attempts() -> None:
    decision = decide(RdStationUnavailable("timeout"), attempts=6)
    assert isinstance(decision, Park)
    assert "6 attempts" in decision.reason


def test_retry_budget_by_age() -> None:
    assert isinstance(decide(RdStationUnavailable("timeout"), attempts=1, age=7 * 3600), Park)


def test_retry_after_picks_a_tier_that_covers_it() -> None:
    decision = decide(RdStationRateLimited("429", retry_after=45), attempts=1)
    assert decision == Retry(120, "RD Station: 429", counts_as_attempt=False)


def test_a_rate_limit_does_not_climb_the_tiers_after_other_failures() -> None:
    # Three 500s then 429s: the 429 waits in the first tier, not the fourth or fifth.
    assert decide(RdStationRateLimited("429"), attempts=4) == Retry(
        5, "RD Station: 429", counts_as_attempt=False
    )


def test_a_rate_limit_does_not_use_up_the_attempts() -> None:
    decision = decide(RdStationRateLimited("429"), attempts=6)
    assert isinstance(decision, Retry)
    assert not decision.counts_as_attempt


def test_a_rate_limit_still_gives_up_at_the_age_budget() -> None:
    assert isinstance(decide(RdStationRateLimited("429"), attempts=1, age=7 * 3600), Park)


def test_a_403_parks_at_once_naming_the_fix() -> None:
    decision = decide(RdStationForbidden("forbidden", status=403, path="/deals"))
    assert isinstance(decision, Park)
    assert "RDSTATION_CRM_TOKEN" in decision.reason


def test_busy_document_retries() -> None:
    assert isinstance(decide(LockTimeout("document:x")), Retry)


def test_unknown_errors_are_left_to_the_broker() -> None:
    assert decide(KeyError("bug")) is None


def test_the_retry_budget_by_age_ends_exactly_at_the_limit() -> None:
    decision = decide(RdStationUnavailable("timeout"), attempts=1, age=6 * 3600)

    assert decision == Park("gave up after 21600s: RD Station: timeout")


def test_a_retry_after_equal_to_a_tier_waits_that_tier() -> None:
    assert decide(RdStationRateLimited("429", retry_after=30), attempts=1) == Retry(
        30, "RD Station: 429", counts_as_attempt=False
    )


def test_a_retry_after_longer_than_every_tier_waits_the_longest() -> None:
    assert decide(RdStationRateLimited("429", retry_after=7200), attempts=1) == Retry(
        3600, "RD Station: 429", counts_as_attempt=False
    )


def test_a_failure_nobody_understands_is_described_by_its_type() -> None:
    assert describe_failure(KeyError("deal_id")) == "KeyError: 'deal_id'"


def test_a_store_that_cannot_answer_now_retries() -> None:
    decision = decide(StoreUnavailable("database is locked"))
    assert decision == Retry(5, "StoreUnavailable: database is locked")


def test_a_constraint_the_store_refuses_is_left_to_the_broker() -> None:
    assert decide(sqlite3.IntegrityError("UNIQUE constraint failed: documents.deal_id")) is None


def test_a_clicksign_outage_retries_in_clicksigns_own_words() -> None:
    outage = ClicksignUnavailable("bad gateway", status=502, path="/api/v1/documents/d-1")

    assert decide(outage) == Retry(5, "Clicksign API: bad gateway (502 on /api/v1/documents/d-1)")
