"""Where the page's links lead: a deal in RD Station, and back within the page after a form."""

from __future__ import annotations

from yarl import URL

from services.crm_writer.settings import DEFAULT_RD_BASE_URL, CrmWriterSettings

RD_APP_DEALS_URL = "https://crm.rdstation.com/app/deals/"


def deal_url(settings: CrmWriterSettings, deal_id: str) -> str:
    """RD Station CRM's web page of the deal; in sandbox mode, the sandbox's own resource for it
    (the same rule as ``signdeal history show``)."""
    if settings.uses_sandbox:
        return f"{settings.rd_base_url.rstrip('/')}/deals/{URL.build(path=deal_id).raw_path}"
    base = URL(settings.rdstation_crm_base_url)
    if settings.rdstation_crm_base_url.rstrip("/") == DEFAULT_RD_BASE_URL or not base.host:
        return RD_APP_DEALS_URL + URL.build(path=deal_id).raw_path
    return str(base.with_path(f"/app/deals/{deal_id}").with_query(None))


def local_path(target: str | None, fallback: str = "/") -> str:
    """``target`` when it is a path of this site (after a login, a form): never another site's
    URL, not even one written ``//host`` or ``/\\host``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    parsed = URL(target)
    if parsed.is_absolute() or any(ord(ch) < 32 for ch in target):
        return fallback
    return target
