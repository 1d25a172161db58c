"""The client-side limit on Clicksign calls: the account's budget, never exceeded.

Clicksign allows 50 requests per account every 10 seconds in production and 20 in its sandbox
(https://developers.clicksign.com/docs/limite-de-requisicoes; the sandbox's 20 measured by
ECF-Consultoria/sistema-geral-ecf, and seen as ``X-Rate-Limit: 20`` in NexoosBR/clicksign-api's
recordings). The budget belongs to the account, not to a process: it is divided between
crm_writer replicas like RD's, and a 429 caused by another user of the token (Pluga, an ERP) is a
retry, never a lost event.
"""

from __future__ import annotations

from yarl import URL

from services.crm_writer.pacing import RequestPacer

PERIOD_SECONDS = 10.0
PRODUCTION_LIMIT = 50
SANDBOX_LIMIT = 20


def account_limit(base_url: str) -> int:
    """Clicksign's documented budget for the host ``base_url`` points at."""
    host = URL(base_url).host or ""
    return SANDBOX_LIMIT if host.startswith("sandbox.") else PRODUCTION_LIMIT


class ClicksignRateLimiter(RequestPacer):
    """Paces Clicksign requests within one process, at the account's whole budget."""

    def __init__(self, base_url: str) -> None:
        super().__init__(account_limit(base_url), PERIOD_SECONDS)
