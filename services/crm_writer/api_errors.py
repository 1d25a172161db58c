"""Failures of the outside APIs crm_writer calls (RD Station CRM, Clicksign), as the retry policy
sees them: each client raises its own subclasses; the policy only asks these two questions."""

from __future__ import annotations


class ApiError(Exception):
    """A call to an outside API failed; ``retryable`` says whether trying later can help."""

    retryable = False


class ApiRateLimited(ApiError):
    """429: the API's request budget is spent for now. Not a failure of the event: it waits for
    the window (``retry_after`` seconds when the API says) without climbing the retry tiers."""

    retryable = True
    retry_after: float | None = None
